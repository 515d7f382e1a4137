"""OAuth2 token endpoints of our own on 127.0.0.1, standing in for a cloud's identity
service in the keychain tests: each checks what the SDK sends the way the real one does
(a signed JWT assertion, a client secret) and answers an access token, or 400."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.support.httpserve import answer_json, serve_tls

#: a request's path and form fields → the access token to answer, or None for a 400
Grant = Callable[[str, dict[str, str]], str | None]


@dataclass
class TokenEndpoint:
    """A running endpoint: ``url`` is its base; ``asked`` counts the grants it gave."""

    url: str
    server: ThreadingHTTPServer = field(repr=False)
    asked: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_token_endpoint(grant: Grant, tls: tuple[Path, Path] | None = None,
                         host: str = "127.0.0.1",
                         documents: dict[str, Callable[[str], dict[str, object]]] | None = None
                         ) -> TokenEndpoint:
    """Serve POSTed form grants through ``grant``, and GETs of ``documents`` (a path → a
    JSON document made from the endpoint's base URL), on a free port."""
    asked: list[str] = []
    base: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            make = (documents or {}).get(path)
            if make is None:
                answer_json(self, 404, {"error": "not_found"})
                return
            answer_json(self, 200, make(base[0]))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            token = grant(urlsplit(self.path).path, form)
            if token is None:
                answer_json(self, 400, {"error": "invalid_grant"})
                return
            asked.append(urlsplit(self.path).path)
            answer_json(self, 200, {"access_token": token, "token_type": "Bearer",
                               "expires_in": 3600, "ext_expires_in": 3600,
                               "expires_on": int(time.time()) + 3600})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = serve_tls(server, tls)
    base.append(f"{scheme}://{host}:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return TokenEndpoint(base[0], server, asked)
