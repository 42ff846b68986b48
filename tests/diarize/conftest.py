"""Fixtures for diarization tests: a tiny random-weight pyannote pipeline directory, the
pyannote sample call, and a stand-in Hugging Face hub (a local HTTP server) for the error
paths that need one (gated repo, refused token)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from random_pipeline import build_random_pipeline


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete offline pipeline directory (config.yaml, segmentation, embedding, plda)."""
    return build_random_pipeline(tmp_path_factory.mktemp("pipeline") / "tiny", size="tiny")


@pytest.fixture(scope="session")
def pyannote_sample() -> dict:
    """The real two-speaker phone call shipped in the pyannote.audio wheel (30 s)."""
    import importlib.util

    spec = importlib.util.find_spec("pyannote.audio")
    assert spec and spec.origin
    folder = Path(spec.origin).parent / "sample"
    return {"wav": folder / "sample.wav", "rttm": folder / "sample.rttm"}


class _HubHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request the way huggingface.co answers for one failure mode."""

    mode = "gated"
    requests: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.requests.append((self.path, self.headers.get("authorization")))
        status, code = {"gated": (403, "GatedRepo"), "refused": (401, None)}[self.mode]
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", "Access to this model is restricted.")
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "Access to this model is restricted."}')

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_hub() -> Iterator:
    """``fake_hub(mode)`` -> endpoint URL of a local server failing like the hub does."""
    servers = []

    def start(mode: str) -> str:
        handler = type("Handler", (_HubHandler,), {"mode": mode, "requests": []})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        start.requests = handler.requests  # type: ignore[attr-defined]
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
