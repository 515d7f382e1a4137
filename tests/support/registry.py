"""Start Debian's ``docker-registry`` (CNCF distribution) on 127.0.0.1, plain or with auth."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import requests


@dataclass
class Registry:
    """A running registry: ``host`` is ``127.0.0.1:<port>``; its access log is readable."""

    host: str
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def mark(self) -> int:
        """A position in the access log; :meth:`requests_since` counts what came after."""
        return len(self.log_lines())

    def requests_since(self, mark: int) -> list[str]:
        """HTTP requests the registry served after ``mark`` (its access-log lines)."""
        return [line for line in self.log_lines()[mark:] if re.search(r'"[A-Z]+ /v2/', line)]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_registry(workdir: Path, auth: dict[str, object] | None = None,
                   env: dict[str, str] | None = None,
                   tls: tuple[Path, Path] | None = None) -> Registry:
    """Start a registry with filesystem storage under ``workdir`` on a free port.

    ``tls`` is a (certificate, key) pair to serve HTTPS with.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    lines = [
        "version: 0.1",
        "log: {level: info, formatter: text}",
        f"storage: {{filesystem: {{rootdirectory: {workdir / 'data'}}}, "
        "delete: {enabled: true}}",
        'http: {addr: "127.0.0.1:0", secret: kotasks-test'
        + (f", tls: {{certificate: {tls[0]}, key: {tls[1]}}}" if tls else "") + "}",
    ]
    if auth:
        lines.append(f"auth: {json.dumps(auth)}")
    config.write_text("\n".join(lines) + "\n")
    log_path = workdir / "registry.log"
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                                stderr=log, env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 15
    host = ""
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
        if match:
            host = f"127.0.0.1:{match.group(1)}"
            break
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {text}")
        time.sleep(0.02)
    if not host:
        proc.terminate()
        raise RuntimeError("docker-registry did not start in time")
    scheme = "https" if tls else "http"
    while time.monotonic() < deadline:
        try:
            with warnings.catch_warnings():  # a self-signed test certificate
                warnings.simplefilter("ignore")
                requests.get(f"{scheme}://{host}/v2/", timeout=1, verify=False)
            break
        except requests.ConnectionError:
            time.sleep(0.02)
    return Registry(host, log_path, proc)


def start_htpasswd_registry(workdir: Path, user: str, password: str) -> Registry:
    """A registry that wants Basic credentials: ``user`` with ``password`` (htpasswd)."""
    import bcrypt

    workdir.mkdir(parents=True, exist_ok=True)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    (workdir / "htpasswd").write_text(f"{user}:{hashed}\n")
    return start_registry(workdir / "reg", auth={"htpasswd": {
        "realm": "kotasks-test", "path": str(workdir / "htpasswd")}})
