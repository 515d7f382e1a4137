"""Credentials from Docker's config (``auths``, ``credHelpers``, ``credsStore``) and podman's.

Lookup follows ko (Docker's loader): ``$DOCKER_CONFIG/config.json`` or
``~/.docker/config.json`` if either exists, else ``$XDG_RUNTIME_DIR/containers/auth.json``;
the full repository is tried before the registry; Docker Hub is stored under
``https://index.docker.io/v1/``. Credentials are never logged.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def config_path() -> Path | None:
    """Return the Docker (or podman) auth file kotasks reads, or None if there is none."""
    home_cfg = Path.home() / ".docker" / "config.json"
    env_dir = os.environ.get("DOCKER_CONFIG")
    env_cfg = Path(env_dir) / "config.json" if env_dir else None
    if home_cfg.is_file() or (env_cfg is not None and env_cfg.is_file()):
        return env_cfg if env_cfg is not None else home_cfg
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        podman = Path(runtime) / "containers" / "auth.json"
        if podman.is_file():
            return podman
    return None


def normalise_key(key: str) -> str:
    """Reduce an ``auths`` key (maybe a URL) to host[/path]."""
    key = key.removeprefix("https://").removeprefix("http://").rstrip("/")
    if key in ("index.docker.io/v1", "index.docker.io", "docker.io", "registry-1.docker.io"):
        return DOCKER_HUB
    return key.removesuffix("/v1").removesuffix("/v2")


class Keychain:
    """Resolve credentials for a registry (and repository) from the auth file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else config_path()
        self._config: dict[str, Any] | None = None
        self._found: dict[tuple[str, str], Credentials | None] = {}
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        with self._lock:  # push threads ask at once; each must see the whole file
            if self._config is None:
                data: Any = {}
                if self.path is not None:
                    try:
                        data = json.loads(self.path.read_text())
                    except (OSError, ValueError) as exc:
                        raise UserError(f"{self.path}: cannot read registry credentials: "
                                        f"{exc.__class__.__name__}") from None
                    if not isinstance(data, dict):
                        raise UserError(f"{self.path}: expected a JSON object")
                self._config = data
            return self._config

    def resolve(self, registry: str, repository: str = "") -> Credentials | None:
        """Return credentials for ``registry`` (trying ``registry/repository`` first): from
        the Docker config, else from the built-in keychain that serves the host; looked up
        once per run."""
        key = (registry, repository)
        with self._lock:
            if key in self._found:
                return self._found[key]
        found = self._from_config(registry, repository)
        if found is None:
            from kotasks.registry.keychains import cloud_credentials

            found = cloud_credentials(registry)
        with self._lock:
            self._found[key] = found
        return found

    def _from_config(self, registry: str, repository: str) -> Credentials | None:
        cfg = self._load()
        helpers = cfg.get("credHelpers") or {}
        for key, helper in helpers.items():
            if normalise_key(key) == registry:
                return from_helper(str(helper), registry)
        auths = {normalise_key(k): v for k, v in (cfg.get("auths") or {}).items()
                 if isinstance(v, dict)}
        for key in ([f"{registry}/{repository}"] if repository else []) + [registry]:
            entry = auths.get(key)
            if entry:
                creds = _from_entry(entry, self.path, key)
                if creds is not None:
                    return creds
        store = cfg.get("credsStore")
        if store:
            return from_helper(str(store), registry)
        return None


def _from_entry(entry: dict[str, Any], path: Path | None, key: str) -> Credentials | None:
    username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"])).decode()
        except ValueError:
            raise UserError(f"{path}: auths[{key!r}].auth: expected base64 of user:password"
                            ) from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise UserError(f"{path}: auths[{key!r}].auth: expected base64 of user:password")
    creds = Credentials(username, password, str(entry.get("identitytoken") or ""),
                        str(entry.get("registrytoken") or ""))
    if creds.has_password or creds.identity_token or creds.registry_token:
        return creds
    return None


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
