"""A fault proxy: forwards every request to a REAL Ollama, and injects one fault on request.

Not a fake server: every answer comes from the real server behind it. It exists for the faults
a real server cannot be made to produce on cue (issue 13): a connection dropped after the server
has acted on a request, or an answer delayed long enough to interrupt the client. A rule picks
the request (method, path and a substring of the body) and says what to do with it:

- `drop_after`: forward it, let the server act, then close the client's connection unanswered;
- `stall`: wait `seconds` before forwarding it (the client sees a slow server);
- `hold`: forward it, then wait until `release()` before answering.

Rules fire once each unless `times` says otherwise, and `fired` counts them; a rule's `then`
comes into force after it fired (a dropped move, then a server that stops answering).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Rule:
    method: str
    path: str
    action: Literal["drop_after", "stall", "hold"]
    body_contains: str = ""
    seconds: float = 0.0
    times: int = 1
    fired: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    reached: threading.Event = field(default_factory=threading.Event)
    """Set when the rule fires (for tests that act while a request is held)."""
    then: Rule | None = None
    """A rule that comes into force once this one has fired."""

    def matches(self, method: str, path: str, body: bytes) -> bool:
        return (
            self.fired < self.times
            and method == self.method
            and path.split("?")[0] == self.path
            and self.body_contains.encode() in body
        )


class FaultProxy:
    """`FaultProxy(upstream).start()`, then point the client at `proxy.host`."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rules: list[Rule] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def add(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        return rule

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rule = next(
                    (r for r in proxy.rules if r.matches(self.command, self.path, body)), None
                )
                if rule is not None:
                    rule.fired += 1
                    rule.reached.set()
                    if rule.then is not None:
                        proxy.rules.append(rule.then)
                    if rule.action == "stall":
                        time.sleep(rule.seconds)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                with (
                    httpx.Client(timeout=None) as client,
                    client.stream(
                        self.command, proxy.upstream + self.path, content=body, headers=headers
                    ) as reply,
                ):
                    chunks = list(reply.iter_raw()) if rule is not None else None
                    if rule is not None and rule.action == "drop_after":
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if rule is not None and rule.action == "hold":
                        rule.released.wait(rule.seconds or 600)
                    self.send_response(reply.status_code)
                    for key, value in reply.headers.items():
                        if key.lower() not in HOP_BY_HOP and key.lower() != "content-encoding":
                            self.send_header(key, value)
                    if self.command == "HEAD" or reply.status_code in (204, 304):
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for chunk in chunks if chunks is not None else reply.iter_raw():
                        if chunk:
                            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                            self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")

            do_GET = do_POST = do_HEAD = do_DELETE = do_PUT = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            for rule in self.rules:
                rule.released.set()
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
