"""``kotasks login`` and ``logout``: store or remove registry credentials as ``docker login``
(and ko's crane-based ``ko login``) do.

The server is normalised as a registry (Docker Hub's names become
``https://index.docker.io/v1/``). When the Docker config names a credential helper for it
(``credHelpers``, else ``credsStore``), the secret goes to ``docker-credential-<helper>
store`` on its stdin, never on a command line, and the config only records the server;
otherwise it is an ``auths`` entry. The config (``$DOCKER_CONFIG/config.json`` or
``~/.docker/config.json``) is rewritten atomically with mode 0600, its other entries kept.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kotasks.errors import UserError
from kotasks.fsutil import write_atomic
from kotasks.registry.auth import normalise_key
from kotasks.registry.credentials import DOCKER_HUB_KEY
from kotasks.registry.reference import DOCKER_HUB


def login_config(environ: Mapping[str, str]) -> Path:
    """The Docker config file ``login`` writes."""
    directory = environ.get("DOCKER_CONFIG") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".docker")
    return Path(directory) / "config.json"


def server_key(server: str) -> str:
    """The key a server's credentials are stored under."""
    registry = normalise_key(server.strip())
    if not registry or "/" in registry.rstrip("/"):
        raise UserError(f"login: {server!r} is not a registry (expected a host[:port], "
                        "such as ghcr.io or localhost:5000)")
    return DOCKER_HUB_KEY if registry == DOCKER_HUB else registry


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read the Docker config: {exc.__class__.__name__}"
                        ) from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data


def _write(path: Path, config: dict[str, Any]) -> None:
    write_atomic(path, (json.dumps(config, indent="\t") + "\n").encode(), mode=0o600)


def _helper(config: dict[str, Any], key: str) -> str:
    for server, helper in (config.get("credHelpers") or {}).items():
        if server_key(server) == key:
            return str(helper)
    return str(config.get("credsStore") or "")


def _run_helper(helper: str, action: str, data: bytes, key: str) -> None:
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        raise UserError(f"login: the Docker config names the credential helper {helper!r} "
                        f"for {key}, but docker-credential-{helper} is not on PATH")
    proc = subprocess.run([program, action], input=data, capture_output=True, timeout=60,
                          check=False)
    if proc.returncode != 0:
        # a helper's own message, never the input (which holds the secret)
        said = (proc.stdout or proc.stderr).decode(errors="replace").strip().splitlines()
        raise UserError(f"docker-credential-{helper} {action} failed for {key}"
                        + (f": {said[0][:200]}" if said else ""))


def login(server: str, username: str, password: str,
          environ: Mapping[str, str] | None = None) -> Path:
    """Store the credentials for ``server``; return the config file."""
    if not username or not password:
        raise UserError("login: both a username (-u) and a password (-p or --password-stdin) "
                        "are needed")
    env = os.environ if environ is None else environ
    path = login_config(env)
    config = _read(path)
    key = server_key(server)
    auths = dict(config.get("auths") or {})
    helper = _helper(config, key)
    if helper:
        secret = json.dumps({"ServerURL": key, "Username": username, "Secret": password})
        _run_helper(helper, "store", secret.encode(), key)
        auths[key] = {}
    else:
        auths[key] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    config["auths"] = auths
    _write(path, config)
    return path


def logout(server: str, environ: Mapping[str, str] | None = None) -> Path:
    """Remove the credentials for ``server``; return the config file."""
    env = os.environ if environ is None else environ
    path = login_config(env)
    config = _read(path)
    key = server_key(server)
    auths = dict(config.get("auths") or {})
    stored = [k for k in auths if server_key(k) == key]
    helper = _helper(config, key)
    if helper:
        _run_helper(helper, "erase", key.encode(), key)
    elif not stored:
        raise UserError(f"logout: not logged in to {key} (no entry in {path})")
    for k in stored:
        del auths[k]
    config["auths"] = auths
    _write(path, config)
    return path
