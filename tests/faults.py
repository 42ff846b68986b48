"""Fault injection for chaos tests: a TCP proxy whose link can be cut and restored.

Point a worker or client subprocess at ``proxy.url(...)`` instead of the real server (moto
over HTTP, the Mongo wire server) and call ``cut()`` to break every open connection at once
and turn new ones away, ``restore()`` to let traffic through again, or ``cut_for(seconds)``
for an outage that heals by itself. The proxy runs in threads of the test process, one
accept thread plus two pump threads per connection, so pymongo and boto3 pools work through
it. Plain helpers only: fixtures are wired by the suites that use them.

A cut is a reset (RST, as when a host or NAT drops the connection), never a clean FIN, and
takes effect at once: every socket has a short timeout so no pump thread stays blocked.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

_ABORT = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN
_TICK = 0.5  # socket timeout: the longest a pump thread waits before it sees a cut


def _abort(sock: socket.socket) -> None:
    """Reset the connection now: the peer gets an RST."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _ABORT)
        sock.shutdown(socket.SHUT_RD)  # wakes a pump blocked in recv(); sends nothing
    except OSError:
        pass
    sock.close()


class _Cut(ConnectionAbortedError):
    pass


@dataclass(eq=False)
class _Link:
    client: socket.socket
    upstream: socket.socket
    lock: threading.Lock = field(default_factory=threading.Lock)
    ended: int = 0  # directions that finished cleanly
    closed: bool = False


class TcpProxy:
    """Forward 127.0.0.1:``port`` to ``target_host:target_port``; ``cut()`` on demand."""

    def __init__(self, target_host: str, target_port: int, *, connect_timeout: float = 5) -> None:
        self.target = (target_host, target_port)
        self.connect_timeout = connect_timeout
        self.accepted = 0  # every connection accepted, refused ones included
        self.refused = 0  # closed at once because the link was cut (or the target was down)
        self.reset = 0  # open connections broken by cut()
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._is_cut = False
        self._closed = False
        self._timer: threading.Timer | None = None
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(512)
        self._listener.settimeout(0.2)  # so close() is noticed
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    @classmethod
    def for_url(cls, url: str) -> TcpProxy:
        """A proxy to the host and port of ``url`` (http://..., mongodb://...)."""
        parts = urlsplit(url)
        assert parts.hostname and parts.port, f"no host:port in {url!r}"
        return cls(parts.hostname, parts.port)

    def url(self, scheme: str = "http", path: str = "") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def rewrite(self, url: str) -> str:
        """``url`` with its host:port replaced by the proxy's (path and query kept)."""
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=f"127.0.0.1:{self.port}"))

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._links)

    @property
    def is_cut(self) -> bool:
        return self._is_cut

    # --- faults ---------------------------------------------------------------------------------
    def cut(self) -> None:
        """Reset every open connection (both sides) and refuse new ones until ``restore()``."""
        with self._lock:
            self._is_cut = True
            links, self._links = self._links, set()
            self.reset += len(links)
        for link in links:
            self._close(link)

    def restore(self) -> None:
        with self._lock:
            self._is_cut = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def cut_for(self, seconds: float) -> threading.Timer:
        """Cut now and restore after ``seconds`` in a background timer."""
        self.cut()
        timer = threading.Timer(seconds, self.restore)
        timer.daemon = True
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = timer
        timer.start()
        return timer

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._thread.join(timeout=5)
        self._listener.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "cut" if self._is_cut else "open"
        return f"TcpProxy(:{self.port} -> {self.target[0]}:{self.target[1]}, {state})"

    # --- plumbing -------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed
            with self._lock:
                self.accepted += 1
                refuse = self._is_cut or self._closed
                if refuse:
                    self.refused += 1
            if refuse:
                _abort(client)  # the client sees a reset on its first read or write
                continue
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=self.connect_timeout)
        except OSError:
            with self._lock:
                self.refused += 1
            _abort(client)
            return
        for sock in (client, upstream):
            sock.settimeout(_TICK)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(client, upstream)
        with self._lock:
            if self._is_cut:  # cut while we were connecting
                self.refused += 1
                self._close(link)
                return
            self._links.add(link)
        threading.Thread(target=self._pump, args=(link, client, upstream), daemon=True).start()
        self._pump(link, upstream, client)

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not link.closed:
                try:
                    data = src.recv(65536)
                except TimeoutError:
                    continue  # idle: look at link.closed again
                if not data:
                    break
                self._send(link, dst, data)
        except OSError:  # one side reset (or cut() closed us): reset the other side too
            self._drop(link)
            return
        # A clean end of one direction: pass the half-close on, keep the other direction.
        with link.lock:
            if link.closed:
                return
            link.ended += 1
            both = link.ended == 2
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
        if both:
            self._drop(link, abort=False)

    @staticmethod
    def _send(link: _Link, dst: socket.socket, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if link.closed:
                raise _Cut
            try:
                view = view[dst.send(view) :]
            except TimeoutError:
                continue  # a slow reader: wait on, unless cut meanwhile

    def _drop(self, link: _Link, abort: bool = True) -> None:
        with self._lock:
            self._links.discard(link)
        self._close(link, abort)

    @staticmethod
    def _close(link: _Link, abort: bool = True) -> None:
        with link.lock:
            if link.closed:
                return
            link.closed = True
        for sock in (link.client, link.upstream):
            if abort:
                _abort(sock)
            else:
                sock.close()


# What AWS answers a GetObject or HeadObject for a missing key when the caller has no
# s3:ListBucket on the bucket: 403 AccessDenied, not 404, so that a caller cannot learn
# which keys exist. moto always answers 404.
_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message></Error>"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class S3WithoutList:
    """An HTTP proxy to moto's S3 that answers as AWS does a caller without s3:ListBucket:
    a missing object reads as 403 AccessDenied. Point one process at it with
    ``AWS_ENDPOINT_URL_S3=proxy.url``; everything else passes through unchanged."""

    def __init__(self, target_url: str) -> None:
        import http.client
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        parts = urlsplit(target_url)
        target = (parts.hostname, parts.port)
        self.denied: list[str] = []  # the paths answered 403 instead of 404
        proxy = self

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection(*target, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body,
                                     headers=dict(self.headers.items()))  # fmt: skip
                    answer = upstream.getresponse()
                    data = answer.read()
                    headers = [(k, v) for k, v in answer.getheaders()
                               if k.lower() not in _HOP_BY_HOP]  # fmt: skip
                    status, size = answer.status, answer.getheader("Content-Length", "0")
                finally:
                    upstream.close()
                key = urlsplit(self.path).path.strip("/").partition("/")[2]
                missing = status == 404 and (self.command == "HEAD" or b"NoSuchKey" in data)
                if missing and key and self.command in ("GET", "HEAD"):
                    proxy.denied.append(self.path)
                    status, data = 403, b"" if self.command == "HEAD" else _DENIED
                    headers = [("Content-Type", "application/xml")]
                    size = str(len(data))
                elif self.command != "HEAD":
                    size = str(len(data))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", size)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> S3WithoutList:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
