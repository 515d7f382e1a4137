"""ko's built-in keychains after the Docker config, each only for the hosts it belongs to.

* GitHub: ``ghcr.io`` with ``GITHUB_TOKEN`` (user ``GITHUB_ACTOR``, else ``unset``, as ko).
* Google: ``gcr.io``, ``*.gcr.io``, ``*.pkg.dev``: the ``docker-credential-gcloud`` helper,
  else ``gcloud auth print-access-token``, when on PATH.
* Amazon ECR: ``*.dkr.ecr.*.amazonaws.com`` and ``public.ecr.aws``: the
  ``docker-credential-ecr-login`` helper when on PATH.
* Azure ACR: ``*.azurecr.io``: the ``docker-credential-acr-env`` helper when on PATH.

A keychain whose tool is absent is skipped silently; :func:`hint` says, for a registry that
then answers 401, which keychain could have served it and how to enable it. Nothing here
writes or prints a credential.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kotasks.registry.auth import Credentials, from_helper


@dataclass(frozen=True)
class CloudKeychain:
    """One keychain: the hosts it serves, how it finds credentials, how to enable it."""

    name: str
    hosts: re.Pattern[str]
    lookup: Callable[[str, Mapping[str, str]], Credentials | None]
    enable: str

    def serves(self, registry: str) -> bool:
        """Whether ``registry`` (host[:port]) belongs to this keychain."""
        return self.hosts.fullmatch(registry) is not None


def _github(registry: str, environ: Mapping[str, str]) -> Credentials | None:
    token = environ.get("GITHUB_TOKEN", "")
    return Credentials(environ.get("GITHUB_ACTOR") or "unset", token) if token else None


def _helper(name: str) -> Callable[[str, Mapping[str, str]], Credentials | None]:
    def lookup(registry: str, environ: Mapping[str, str]) -> Credentials | None:
        if shutil.which(f"docker-credential-{name}", path=environ.get("PATH")) is None:
            return None
        return from_helper(name, registry, environ.get("PATH"))

    return lookup


def _google(registry: str, environ: Mapping[str, str]) -> Credentials | None:
    found = _helper("gcloud")(registry, environ)
    if found is not None:
        return found
    gcloud = shutil.which("gcloud", path=environ.get("PATH"))
    if gcloud is None:
        return None
    proc = subprocess.run([gcloud, "auth", "print-access-token"], capture_output=True,
                          text=True, timeout=60, check=False, env=dict(environ))
    token = proc.stdout.strip()
    return Credentials("oauth2accesstoken", token) if proc.returncode == 0 and token else None


KEYCHAINS = (
    CloudKeychain("Amazon ECR",
                  re.compile(r"[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"
                             r"|public\.ecr\.aws"),
                  _helper("ecr-login"), "put docker-credential-ecr-login on PATH"),
    CloudKeychain("Google", re.compile(r"(.+\.)?gcr\.io|.+\.pkg\.dev"), _google,
                  "put docker-credential-gcloud (or gcloud) on PATH"),
    CloudKeychain("GitHub", re.compile(r"ghcr\.io"), _github, "set GITHUB_TOKEN"),
    CloudKeychain("Azure ACR", re.compile(r".+\.azurecr\.io"), _helper("acr-env"),
                  "put docker-credential-acr-env on PATH (with AZURE_CLIENT_ID, "
                  "AZURE_CLIENT_SECRET, AZURE_TENANT_ID)"),
)


def cloud_credentials(registry: str, environ: Mapping[str, str] | None = None
                      ) -> Credentials | None:
    """Credentials from the keychain that serves ``registry``, if it has any."""
    env = os.environ if environ is None else environ
    for keychain in KEYCHAINS:
        if keychain.serves(registry):
            return keychain.lookup(registry, env)
    return None


def hint(registry: str) -> str:
    """For a 401 without credentials: which keychain serves ``registry`` and how to enable
    it ("" if none does)."""
    for keychain in KEYCHAINS:
        if keychain.serves(registry):
            return f"the {keychain.name} keychain serves {registry}: {keychain.enable}"
    return ""
