"""A chat-completions server process for the summary plugin's tests.

    python chat_server.py SCENARIO LOG     prints its port, then serves until killed

Every request body is appended to LOG (one JSON line). Scenarios: ``ok``; ``slow`` (each
reply after 3 s); ``flaky`` (500 on the first request, then ok); ``busy`` (429 with
Retry-After: 1 on the first request, then ok); ``unauthorized`` (401); ``not-json`` (an HTML
page); ``no-choices``; ``prose`` (content that is not the JSON asked for). An ``ok`` answer
is built from what was sent: a chunk's summary names its line count and first line; a merge
lists the partial summaries it got.
"""

from __future__ import annotations

import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCENARIO, LOG = sys.argv[1], sys.argv[2]
LINE = re.compile(r"^\[(\d\d:\d\d)\] (\S+): (.*)$")
seen = 0


def answer(messages: list[dict]) -> dict:
    system, user = messages[0]["content"], messages[1]["content"]
    if "merge" in system:
        parts = [json.loads(p.split(":\n", 1)[1]) for p in user.split("\n\n")]
        return {
            "summary": f"Merged {len(parts)} parts: " + " | ".join(p["summary"] for p in parts),
            "decisions": [d for p in parts for d in p["decisions"]],
            "action_items": [a for p in parts for a in p["action_items"]],
        }
    lines = [m.groups() for m in map(LINE.match, user.splitlines()) if m]
    time_, speaker, text = lines[0]
    return {
        "summary": f"{len(lines)} lines from {time_}",
        "decisions": [f"Keep: {text}"],
        "action_items": [{"speaker": speaker, "time": time_, "item": f"follow up on {text}"}],
    }


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def send(self, status: int, body: bytes, kind: str = "application/json", **headers: str):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        global seen
        seen += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open(LOG, "a") as log:
            auth = self.headers.get("Authorization", "")
            log.write(json.dumps({"path": self.path, "auth": auth, "body": body}) + "\n")
        if SCENARIO == "slow":
            time.sleep(3)
        if SCENARIO == "flaky" and seen == 1:
            return self.send(500, b'{"error": {"message": "overloaded"}}')
        if SCENARIO == "busy" and seen == 1:
            return self.send(429, b'{"error": {"message": "slow down"}}', Retry_After="1")
        if SCENARIO == "unauthorized":
            return self.send(401, b'{"error": {"message": "Incorrect API key provided"}}')
        if SCENARIO == "not-json":
            return self.send(200, b"<html>gateway</html>", "text/html")
        if SCENARIO == "no-choices":
            return self.send(200, b'{"id": "x", "choices": []}')
        content = (
            "Sure! Here is a summary."
            if SCENARIO == "prose"
            else json.dumps(answer(body["messages"]))
        )
        reply = {"id": "c1", "object": "chat.completion",
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                              "finish_reason": "stop"}]}  # fmt: skip
        self.send(200, json.dumps(reply).encode())


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
