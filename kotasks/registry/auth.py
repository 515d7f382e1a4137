"""Credentials from Docker's config (``auths``, ``credHelpers``, ``credsStore``) and podman's.

Lookup follows ko (Docker's loader): ``$DOCKER_CONFIG/config.json`` or
``~/.docker/config.json`` if either exists, else ``$XDG_RUNTIME_DIR/containers/auth.json``;
the full repository is tried before the registry; Docker Hub is stored under
``https://index.docker.io/v1/``. Credentials are never logged.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import Any

from kotasks.errors import UserError
from kotasks.registry.credentials import Credentials, from_helper
from kotasks.registry.keychains import hint, lookup
from kotasks.registry.reference import DOCKER_HUB


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
        #: per registry: what its cloud keychain gave (asked once a run), and why not
        self._cloud: dict[str, Credentials | None] = {}
        self._why: dict[str, str] = {}
        #: per registry: held while its credentials are looked up
        self._locks: dict[str, threading.Lock] = {}

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
            lock = self._locks.setdefault(registry, threading.Lock())
        with lock:  # push threads ask at once: one helper call, one token per registry
            if key not in self._found:
                found = self._from_config(registry, repository)
                self._found[key] = found if found is not None else self._from_cloud(registry)
            return self._found[key]

    def _from_cloud(self, registry: str) -> Credentials | None:
        if registry not in self._cloud:
            self._cloud[registry], self._why[registry] = lookup(registry)
        return self._cloud[registry]

    def hint(self, registry: str) -> str:
        """For a 401 without credentials: the keychain that serves ``registry`` and what it
        lacked ("" if none serves it)."""
        return hint(registry, self._why.get(registry, ""))

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
