"""A stand-in for huggingface.co on 127.0.0.1, for ``HF_ENDPOINT``: the real
``huggingface_hub`` client talks HTTP to it. It serves local folders as model repos
(revision info, file tree, resolve downloads) or fails like the hub does for a gated repo
or a refused token."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubHandler(http.server.BaseHTTPRequestHandler):
    mode: ClassVar[str] = "serve"  # serve | gated | refused
    repos: ClassVar[dict[str, Path]] = {}
    seen: ClassVar[list[tuple[str, str | None]]] = []  # (path, authorization header)

    def do_GET(self, head: bool = False) -> None:
        path = unquote(self.path.split("?")[0])
        self.seen.append((path, self.headers.get("authorization")))
        if self.mode == "gated":
            return self._send(403, b'{"error": "restricted"}', {"X-Error-Code": "GatedRepo"}, head)
        if self.mode == "refused":
            return self._send(401, b'{"error": "invalid token"}', {}, head)
        for repo, root in self.repos.items():
            files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
            if path == f"/api/models/{repo}/revision/main":
                info = {"id": repo, "sha": COMMIT, "siblings": [{"rfilename": f} for f in files]}
                return self._json(info, head)
            if path.startswith(f"/api/models/{repo}/tree/"):
                return self._json(
                    [
                        {
                            "type": "file",
                            "path": f,
                            "size": (root / f).stat().st_size,
                            "oid": _oid(root / f),
                        }
                        for f in files
                    ],
                    head,
                )
            for rev in ("main", COMMIT):
                prefix = f"/{repo}/resolve/{rev}/"
                if path.startswith(prefix) and (root / path[len(prefix) :]).is_file():
                    file = root / path[len(prefix) :]
                    return self._send(
                        200,
                        file.read_bytes(),
                        {"X-Repo-Commit": COMMIT, "ETag": f'"{_oid(file)}"'},
                        head,
                    )
        self._send(404, b'{"error": "not found"}', {"X-Error-Code": "RepoNotFound"}, head)

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def _json(self, data: object, head: bool) -> None:
        self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json"}, head)

    def _send(self, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _oid(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


class FakeHub:
    def __init__(self, mode: str = "serve", repos: dict[str, Path] | None = None) -> None:
        handler = type("Handler", (HubHandler,), {"mode": mode, "repos": repos or {}, "seen": []})
        self.handler = handler
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        return self.handler.seen

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
