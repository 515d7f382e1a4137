"""Registries under cloud host names, for the built-in keychains' tests: nothing contacts a
cloud, and the machine's own ``/etc/hosts`` is never touched.

A test CA signs one certificate for every name; the real registry serves TLS with it behind
the token service (also TLS, also under the cloud's name); kotasks runs in a private mount
namespace (``unshare -m``) whose ``/etc/hosts`` maps the names to 127.0.0.1, and trusts the
test CA through ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.support.faultproxy import FaultProxy, Route, start_fault_proxy
from tests.support.project import Result, build_env
from tests.support.registry import Registry, start_registry
from tests.support.tokenserver import ISSUER, SERVICE, TokenServer, start_token_server


@dataclass
class CloudCA:
    """A CA certificate (``ca``) and one server certificate and key for ``names``."""

    ca: Path
    cert: Path
    key: Path
    names: tuple[str, ...]


def make_ca(directory: Path, names: tuple[str, ...]) -> CloudCA:
    """A CA, and a certificate it signs for ``names``, localhost and 127.0.0.1."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kotasks test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    alt = x509.SubjectAlternativeName(
        [x509.DNSName(n) for n in (*names, "localhost")]
        + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(alt, critical=False).sign(ca_key, hashes.SHA256()))
    paths = CloudCA(directory / "ca.pem", directory / "cert.pem", directory / "key.pem", names)
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return paths


@dataclass
class CloudRegistry:
    """The real registry under ``name`` (``name:port``), behind a token service that grants
    push to ``user`` with ``password`` only."""

    name: str
    registry: Registry
    tokens: TokenServer
    front: FaultProxy | None = None

    @property
    def port(self) -> str:
        host = self.front.host if self.front is not None else self.registry.host
        return host.rsplit(":", 1)[1]

    @property
    def host(self) -> str:
        """What kotasks is given: the cloud's name and the port."""
        return f"{self.name}:{self.port}"

    def stop(self) -> None:
        if self.front is not None:
            self.front.stop()
        self.registry.stop()
        self.tokens.stop()


def start_cloud_registry(directory: Path, ca: CloudCA, name: str, user: str, password: str,
                         routes: dict[str, Route] | None = None) -> CloudRegistry:
    """Start the token service and the registry for ``name`` (one of the CA's names). With
    ``routes``, the registry serves plain HTTP behind our TLS proxy, which answers those
    POST paths itself (as ACR's ``/oauth2/exchange`` is on the registry's host)."""
    tokens = start_token_server(directory / "tokens", user, password, tls=(ca.cert, ca.key),
                                realm_host=name)
    auth: dict[str, object] = {"token": {
        "realm": tokens.realm, "service": SERVICE, "issuer": ISSUER,
        "rootcertbundle": str(tokens.cert_path)}}
    if routes is None:
        return CloudRegistry(name, start_registry(directory / "registry",
                                                  tls=(ca.cert, ca.key), auth=auth), tokens)
    registry = start_registry(directory / "registry", auth=auth)
    front = start_fault_proxy(registry.host, tls=(ca.cert, ca.key))
    front.routes.update(routes)
    return CloudRegistry(name, registry, tokens, front)


def in_the_cloud(ca: CloudCA, argv: list[str]) -> list[str]:
    """``argv`` run with the CA's names resolving to 127.0.0.1 (a private mount namespace
    whose ``/etc/hosts`` says so)."""
    hosts = ca.ca.parent / "hosts"
    hosts.write_text("127.0.0.1 localhost " + " ".join(ca.names) + "\n::1 localhost\n")
    return ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
            str(hosts), *argv]


def run_kotasks_as_in_the_cloud(cwd: Path, ca: CloudCA, *args: str,
                                env: dict[str, str] | None = None,
                                timeout: float = 300) -> Result:
    """Run ``kotasks <args>`` with the CA's names resolving to 127.0.0.1 and the CA trusted
    (``REQUESTS_CA_BUNDLE``)."""
    proc = subprocess.run(in_the_cloud(ca, [sys.executable, "-m", "kotasks", *args]), cwd=cwd,
                          env=build_env({"REQUESTS_CA_BUNDLE": str(ca.ca), **(env or {})}),
                          capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)
