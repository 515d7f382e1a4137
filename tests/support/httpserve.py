"""What the tests' own HTTP services share: TLS on a listening server, a JSON answer."""

from __future__ import annotations

import json
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def serve_tls(server: ThreadingHTTPServer, tls: tuple[Path, Path] | None) -> str:
    """Serve TLS with ``tls`` (a certificate and key) if given; return the URL scheme."""
    if tls is None:
        return "http"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls[0]), str(tls[1]))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return "https"


def answer_json(handler: BaseHTTPRequestHandler, status: int, body: object) -> None:
    """Answer the handler's request with ``body`` as JSON."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
