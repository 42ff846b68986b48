"""A fake EC2 instance metadata service (IMDSv2) for worker tests.

Like the real one: ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds``
returns a session token, every ``GET /latest/meta-data/...`` needs it in
``X-aws-ec2-metadata-token`` (401 otherwise), and the interruption documents are 404 until
there is something to say: ``notice()`` sets ``spot/instance-action`` to
``{"action": "terminate", "time": ...}``, ``rebalance()`` sets
``events/recommendations/rebalance`` to ``{"noticeTime": ...}``; ``expire_token(refusals)``
ends the session token (as its 6 hours do) and answers the next ``refusals`` token requests
with a 503. Point a worker at it with ``TRANSCRIBER_IMDS_URL=imds.url``.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import uuid

TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # AWS's form


class FakeImds:
    def __init__(
        self, instance_id: str = "i-0123456789abcdef0", instance_type: str = "g5.xlarge"
    ) -> None:
        self.token = f"token-{uuid.uuid4().hex}"
        self.values: dict[str, str] = {"instance-id": instance_id, "instance-type": instance_type}
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status), in order
        self.refusals = 0  # token requests still to answer with a 503
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    # --- what the instance is told --------------------------------------------------------------
    def notice(self, action: str = "terminate", at: dt.datetime | None = None) -> None:
        """A Spot interruption notice: AWS gives two minutes."""
        when = at or dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
        self.values["spot/instance-action"] = json.dumps({"action": action, "time": _stamp(when)})

    def rebalance(self, at: dt.datetime | None = None) -> None:
        """A rebalance recommendation (an interruption may follow)."""
        when = at or dt.datetime.now(dt.UTC)
        self.values["events/recommendations/rebalance"] = json.dumps({"noticeTime": _stamp(when)})

    def expire_token(self, refusals: int = 0) -> None:
        """The token expires (its GETs get 401); the next ``refusals`` renewals get a 503."""
        self.refusals = refusals
        self.token = f"token-{uuid.uuid4().hex}"

    def clear(self) -> None:
        for key in ("spot/instance-action", "events/recommendations/rebalance"):
            self.values.pop(key, None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeImds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- HTTP -----------------------------------------------------------------------------------
    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        imds = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                if self.path != "/latest/api/token":
                    return self._send(404)
                if not self.headers.get(TTL_HEADER, "").isdigit():
                    return self._send(400)  # AWS: the TTL header is required
                if imds.refusals > 0:
                    imds.refusals -= 1
                    return self._send(503)
                self._send(200, imds.token)

            def do_GET(self) -> None:
                if self.headers.get(TOKEN_HEADER) != imds.token:
                    return self._send(401)
                value = imds.values.get(self.path.removeprefix("/latest/meta-data/"))
                if value is None:
                    return self._send(404)
                self._send(200, value)

            def _send(self, code: int, body: str = "") -> None:
                data = body.encode()
                imds.requests.append((self.command, self.path, code))
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
