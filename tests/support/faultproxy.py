"""A fault-injecting HTTP proxy of our own in front of the real registry, on 127.0.0.1.

Each request is matched against a schedule of faults, in order; a fault with ``times`` left
is spent on the first request it matches (or, with ``every=N``, on every Nth request it
matches, counted whether or not an earlier fault took it): it answers with a status (a 503,
or a 429 with ``Retry-After``), resets the connection after reading part of the request body
(optionally passing that part on to the registry first, as a connection cut between the two
would), or answers slowly. Everything else is forwarded to the registry, streamed both ways
(the ``Host`` header is kept, so the registry's upload locations point back at the proxy).
Every request and what was done with it is logged, and the body bytes read of each.
Deterministic: faults are counted, never random.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.support.httpserve import answer_json, serve_tls

CHUNK = 1 << 16
Route = Callable[[dict[str, str]], tuple[int, dict[str, object]]]


@dataclass
class Fault:
    """One kind of failure for requests whose ``METHOD path`` matches ``pattern``."""

    pattern: str
    status: int = 0
    code: str = "UNAVAILABLE"  # the error code in the answer's body, with ``status``
    retry_after: str = ""
    reset_after: int = -1  # reset the connection after reading this many body bytes
    reset_at: float = -1.0  # … or after reading this fraction of the body (0.5: halfway)
    forward_partial: bool = False  # pass the bytes read on to the registry before the reset
    delay: float = 0.0  # answer (forwarded) this many seconds late
    times: int = 1  # how many requests it hits; -1: every one
    every: int = 0  # hit only every Nth matching request (0: each one)
    seen: int = 0  # matching requests so far

    def matches(self, line: str) -> bool:
        return self.times != 0 and re.search(self.pattern, line) is not None

    def resets(self) -> bool:
        return self.reset_after >= 0 or self.reset_at >= 0

    def cut(self, length: int) -> int:
        """How many body bytes to read before the reset."""
        if self.reset_at >= 0:
            return int(length * self.reset_at)
        return min(length, self.reset_after)


@dataclass
class FaultProxy:
    """A running proxy: ``host`` is ``127.0.0.1:<port>``; ``log`` holds (request, outcome)."""

    host: str
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    #: (request, body bytes the proxy read of it)
    received: list[tuple[str, int]] = field(default_factory=list)
    #: POST paths the proxy answers itself (an exchange endpoint on the registry's host):
    #: the form → (status, JSON body)
    routes: dict[str, Route] = field(default_factory=dict)
    scheme: str = "http"
    server: ThreadingHTTPServer | None = field(default=None, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    stopping: threading.Event = field(default_factory=threading.Event, repr=False)

    def take(self, line: str) -> Fault | None:
        """The first fault with tries left that this request meets (spending one)."""
        with self.lock:
            hit = None
            for fault in self.faults:
                if not fault.matches(line):
                    continue
                fault.seen += 1
                if hit is None and (not fault.every or fault.seen % fault.every == 0):
                    hit = fault
            if hit is not None and hit.times > 0:
                hit.times -= 1
            return hit

    def count_body(self, line: str, length: int) -> None:
        with self.lock:
            self.received.append((line, length))

    def body_bytes(self, pattern: str) -> int:
        """The body bytes read of the requests matching ``pattern`` (forwarded or not)."""
        with self.lock:
            return sum(n for line, n in self.received if re.search(pattern, line))

    def record(self, line: str, outcome: str) -> None:
        with self.lock:
            self.log.append((line, outcome))

    def outcomes(self, outcome: str) -> list[str]:
        """The requests that met ``outcome`` (``503``, ``429``, ``reset``, ``slow``, ``ok``)."""
        with self.lock:
            return [line for line, done in self.log if done == outcome]

    def stop(self) -> None:
        """Stop serving; requests held back by a delay are dropped, not forwarded."""
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _any(self) -> None:
            line = f"{self.command} {self.path}"
            length = int(self.headers.get("Content-Length") or 0)
            route = proxy.routes.get(urlsplit(self.path).path)
            if self.command == "POST" and route is not None:
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, answer = route(form)
                proxy.record(line, f"answered {status}")
                answer_json(self, status, answer)
                return
            fault = proxy.take(line)
            if fault is not None and fault.resets():
                partial = self.rfile.read(fault.cut(length))
                proxy.count_body(line, len(partial))
                if fault.forward_partial:
                    self._forward_cut(length, partial)
                proxy.record(line, "reset")
                # SO_LINGER 0: close with a RST, as a dropped connection looks
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            if fault is not None and fault.status:
                proxy.count_body(line, len(self.rfile.read(length)))
                proxy.record(line, str(fault.status))
                body = json.dumps({"errors": [{"code": fault.code,
                                               "message": "injected"}]}).encode()
                self.send_response(fault.status)
                if fault.retry_after:
                    self.send_header("Retry-After", fault.retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                return
            proxy.record(line, "slow" if fault is not None and fault.delay else "ok")
            if fault is not None and fault.delay and proxy.stopping.wait(fault.delay):
                # stopped meanwhile: a late request must not reach the registry after the
                # test that delayed it has ended
                self.close_connection = True
                return
            self._forward(line, length)

        def _forward_cut(self, length: int, partial: bytes) -> None:
            """Send the request and the part of its body read so far on, then cut it off."""
            host, port = proxy.upstream.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            head = [f"{self.command} {self.path} HTTP/1.1"]
            head += [f"{key}: {value}" for key, value in self.headers.items()]
            upstream.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + partial)
            upstream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            upstream.close()

        def _forward(self, line: str, length: int) -> None:
            upstream = http.client.HTTPConnection(proxy.upstream, timeout=300)
            upstream.putrequest(self.command, self.path, skip_host=True,
                                skip_accept_encoding=True)
            for key, value in self.headers.items():
                upstream.putheader(key, value)
            if proxy.scheme == "https":  # the registry's upload URLs then say https
                upstream.putheader("X-Forwarded-Proto", "https")
            upstream.endheaders()
            remaining = length
            while remaining:
                chunk = self.rfile.read(min(CHUNK, remaining))
                if not chunk:
                    break
                upstream.send(chunk)
                remaining -= len(chunk)
            proxy.count_body(line, length - remaining)
            response = upstream.getresponse()
            self.send_response_only(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection"):
                    self.send_header(key, value)
            body_length = response.getheader("Content-Length")
            if body_length is None and self.command != "HEAD":
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                while chunk := response.read(CHUNK):
                    self.wfile.write(chunk)
            upstream.close()

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    return Handler


def steady_faults() -> list[Fault]:
    """Faults that never stop: every 4th blob upload dropped halfway, every 6th request
    answered 503, every 9th 429 with ``Retry-After: 1``."""
    return [Fault(r"^(PUT|PATCH) /v2/.+/blobs/uploads/", reset_at=0.5, every=4, times=-1),
            Fault(r".", status=503, every=6, times=-1),
            Fault(r".", status=429, retry_after="1", every=9, times=-1)]


def start_fault_proxy(upstream: str, faults: list[Fault] | None = None,
                      tls: tuple[Path, Path] | None = None) -> FaultProxy:
    """Start a proxy on a free 127.0.0.1 port in front of ``upstream`` (``host:port``),
    over TLS with ``tls`` (a certificate and key)."""
    proxy = FaultProxy("", upstream, list(faults or []))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    proxy.scheme = serve_tls(server, tls)
    server.daemon_threads = True
    proxy.server = server
    proxy.host = f"127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, name="fault-proxy", daemon=True).start()
    return proxy
