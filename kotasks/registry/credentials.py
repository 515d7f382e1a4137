"""Registry credentials, and asking a Docker credential helper for them.

Nothing here logs or prints a secret: ``repr`` leaves them out.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import subprocess
from dataclasses import dataclass, field

from kotasks.errors import UserError
from kotasks.registry.reference import DOCKER_HUB

log = logging.getLogger("kotasks.registry")
DOCKER_HUB_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    """A username and password, or an identity (refresh) token, or a registry token."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)

    def basic(self) -> str:
        """The value of a Basic ``Authorization`` header."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    @property
    def has_password(self) -> bool:
        return bool(self.username and self.password)


def from_helper(helper: str, registry: str, path: str | None = None) -> Credentials | None:
    """Ask ``docker-credential-<helper> get`` (looked up on ``path``, else PATH) for the
    credentials of ``registry``; None if it has none."""
    program = shutil.which(f"docker-credential-{helper}", path=path)
    if program is None:
        log.warning("credential helper docker-credential-%s is not on PATH; using no "
                    "credentials for %s", helper, registry)
        return None
    server = DOCKER_HUB_KEY if registry == DOCKER_HUB else registry
    proc = subprocess.run([program, "get"], input=server.encode(), capture_output=True,
                          timeout=60, check=False)
    if proc.returncode != 0:
        return None  # helpers exit non-zero for "credentials not found"
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise UserError(f"docker-credential-{helper} returned malformed output") from None
    user, secret = str(data.get("Username") or ""), str(data.get("Secret") or "")
    if user == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(user, secret) if secret else None
