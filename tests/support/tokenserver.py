"""A Docker registry token service (Bearer auth) for tests, on 127.0.0.1.

It signs RS256 JWTs with a self-signed certificate that the registry trusts, grants pull and
push to a known user and pull only to anonymous clients, and records every request it gets
(with whether credentials came along) so tests can check where credentials went.
"""

from __future__ import annotations

import base64
import datetime
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.support.httpserve import answer_json, serve_tls

SERVICE, ISSUER = "kotasks-test-registry", "kotasks-test-issuer"


@dataclass
class TokenServer:
    """A running token service; ``realm`` goes into the registry's config."""

    realm: str
    cert_path: Path
    server: ThreadingHTTPServer = field(repr=False)
    seen: list[dict[str, object]] = field(default_factory=list)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _keypair(directory: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate, Path]:
    key, cert = self_signed("kotasks-token")
    path = directory / "token-cert.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def self_signed(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A key and a self-signed certificate valid for 127.0.0.1 and localhost."""
    import ipaddress

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    alt = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(alt, critical=False).sign(key, hashes.SHA256()))
    return key, cert


def start_token_server(directory: Path, user: str, password: str,
                       tls: tuple[Path, Path] | None = None,
                       realm_host: str = "127.0.0.1") -> TokenServer:
    """Start the service on a free port (over TLS with ``tls``, a certificate and key; its
    realm named by ``realm_host``). Besides Basic ``user``:``password`` on GET, it takes
    ``password`` as an OAuth2 refresh token (POST, ``grant_type=refresh_token``)."""
    directory.mkdir(parents=True, exist_ok=True)
    key, cert, cert_path = _keypair(directory)
    x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    seen: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            header = self.headers.get("Authorization", "")
            authed = False
            if header.startswith("Basic "):
                given = base64.b64decode(header[6:]).decode()
                if given != f"{user}:{password}":
                    self._refuse(True)
                    return
                authed = True
            seen.append({"path": self.path, "credentials": bool(header), "granted": True})
            self._grant(query, authed)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            if form.get("grant_type") != ["refresh_token"] or \
                    form.get("refresh_token") != [password]:
                self._refuse(bool(form.get("refresh_token")))
                return
            seen.append({"path": self.path, "credentials": True, "granted": True})
            scopes = [s for value in form.get("scope", []) for s in value.split(" ")]
            self._grant({"scope": scopes}, True)

        def _refuse(self, credentials: bool) -> None:
            seen.append({"path": self.path, "credentials": credentials, "granted": False})
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _grant(self, query: dict[str, list[str]], authed: bool) -> None:
            access = []
            for scope in query.get("scope", []):
                kind, name, actions = scope.split(":")
                allowed = [a for a in actions.split(",") if authed or a == "pull"]
                access.append({"type": kind, "name": name, "actions": allowed})
            now = int(time.time())
            claims = {"iss": ISSUER, "sub": user if authed else "", "aud": SERVICE,
                      "exp": now + 600, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                      "access": access}
            token = jwt.encode(claims, key, algorithm="RS256", headers={"x5c": [x5c]})
            answer_json(self, 200, {"token": token, "access_token": token})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = serve_tls(server, tls)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    realm = f"{scheme}://{realm_host}:{server.server_address[1]}/token"
    return TokenServer(realm, cert_path, server, seen)
