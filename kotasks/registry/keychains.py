"""ko's built-in keychains after the Docker config, each only for the hosts it belongs to.

* Amazon ECR: ``ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn]`` and ``public.ecr.aws``:
  boto3's credential chain with ``kotasks[aws]``, else the ``docker-credential-ecr-login``
  helper on PATH.
* Google: ``gcr.io``, ``*.gcr.io``, ``*.pkg.dev``: Application Default Credentials with
  ``kotasks[google]``, else the ``docker-credential-gcloud`` helper, else
  ``gcloud auth print-access-token``.
* GitHub: ``ghcr.io`` with ``GITHUB_TOKEN`` (user ``GITHUB_ACTOR``, else ``unset``, as ko).
* Azure ACR: ``*.azurecr.io``: an Entra ID token exchanged at the registry with
  ``kotasks[azure]``, else the ``docker-credential-acr-env`` helper on PATH.

Hosts are matched by name, whatever the port. The sources of a keychain are tried in order;
when none has credentials, each says why (:class:`NotConfigured`), and :func:`hint` turns
that into the end of the 401's one-line error: the extra to install, the variables to set.
Nothing here writes or prints a credential.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kotasks.registry.cloud import NotConfigured, hostname
from kotasks.registry.credentials import Credentials, from_helper

#: one way to find credentials for a registry: they, or NotConfigured saying why not
Source = Callable[[str, Mapping[str, str]], Credentials]


@dataclass(frozen=True)
class CloudKeychain:
    """One keychain: the hosts it serves, its sources in order, how to enable it."""

    name: str
    hosts: re.Pattern[str]
    sources: tuple[Source, ...]
    enable: str

    def serves(self, registry: str) -> bool:
        """Whether ``registry`` (host[:port]) belongs to this keychain."""
        return self.hosts.fullmatch(hostname(registry)) is not None

    def find(self, registry: str, environ: Mapping[str, str]) -> Credentials:
        """The first source's credentials; NotConfigured with every source's reason."""
        reasons = []
        for source in self.sources:
            try:
                return source(registry, environ)
            except NotConfigured as exc:
                reasons.append(str(exc))
        raise NotConfigured("; or ".join(reasons))


def _github(registry: str, environ: Mapping[str, str]) -> Credentials:
    token = environ.get("GITHUB_TOKEN", "")
    if not token:
        raise NotConfigured("set GITHUB_TOKEN")
    return Credentials(environ.get("GITHUB_ACTOR") or "unset", token)


def _helper(name: str) -> Source:
    def lookup(registry: str, environ: Mapping[str, str]) -> Credentials:
        if shutil.which(f"docker-credential-{name}", path=environ.get("PATH")) is None:
            raise NotConfigured(f"put docker-credential-{name} on PATH")
        found = from_helper(name, registry, environ.get("PATH"))
        if found is None:
            raise NotConfigured(f"docker-credential-{name} has no credentials for {registry}")
        return found

    return lookup


def _gcloud(registry: str, environ: Mapping[str, str]) -> Credentials:
    gcloud = shutil.which("gcloud", path=environ.get("PATH"))
    if gcloud is None:
        raise NotConfigured("put gcloud on PATH")
    proc = subprocess.run([gcloud, "auth", "print-access-token"], capture_output=True,
                          text=True, timeout=60, check=False, env=dict(environ))
    token = proc.stdout.strip()
    if proc.returncode != 0 or not token:
        raise NotConfigured("`gcloud auth print-access-token` gave no token")
    return Credentials("oauth2accesstoken", token)


def _aws(registry: str, environ: Mapping[str, str]) -> Credentials:
    from kotasks.registry.cloud.ecr import ecr_credentials

    return ecr_credentials(registry)


def _adc(registry: str, environ: Mapping[str, str]) -> Credentials:
    from kotasks.registry.cloud.google import google_credentials

    return google_credentials()


def _entra(registry: str, environ: Mapping[str, str]) -> Credentials:
    from kotasks.registry.cloud.acr import acr_credentials

    return acr_credentials(registry)


KEYCHAINS = (
    CloudKeychain("Amazon ECR",
                  re.compile(r"[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"
                             r"|public\.ecr\.aws"),
                  (_aws, _helper("ecr-login")),
                  "pip install 'kotasks[aws]' and set AWS credentials, or put "
                  "docker-credential-ecr-login on PATH"),
    CloudKeychain("Google", re.compile(r"(.+\.)?gcr\.io|.+\.pkg\.dev"),
                  (_adc, _helper("gcloud"), _gcloud),
                  "pip install 'kotasks[google]' and set GOOGLE_APPLICATION_CREDENTIALS, or "
                  "put docker-credential-gcloud (or gcloud) on PATH"),
    CloudKeychain("GitHub", re.compile(r"ghcr\.io"), (_github,), "set GITHUB_TOKEN"),
    CloudKeychain("Azure ACR", re.compile(r".+\.azurecr\.io"),
                  (_entra, _helper("acr-env")),
                  "pip install 'kotasks[azure]' and set AZURE_CLIENT_ID, AZURE_TENANT_ID and "
                  "AZURE_CLIENT_SECRET, or put docker-credential-acr-env on PATH"),
)


def keychain_for(registry: str) -> CloudKeychain | None:
    """The keychain that serves ``registry``, if one does."""
    return next((k for k in KEYCHAINS if k.serves(registry)), None)


def lookup(registry: str, environ: Mapping[str, str] | None = None
           ) -> tuple[Credentials | None, str]:
    """Credentials from the keychain that serves ``registry``, or None and why (its
    sources' reasons; "" when no keychain serves it)."""
    keychain = keychain_for(registry)
    if keychain is None:
        return None, ""
    try:
        return keychain.find(registry, os.environ if environ is None else environ), ""
    except NotConfigured as exc:
        return None, str(exc)


def cloud_credentials(registry: str, environ: Mapping[str, str] | None = None
                      ) -> Credentials | None:
    """Credentials from the keychain that serves ``registry``, if it has any."""
    return lookup(registry, environ)[0]


def hint(registry: str, why: str = "") -> str:
    """For a 401 without credentials: which keychain serves ``registry`` and what it lacks
    (``why``, as its sources said), else how to enable it; "" if no keychain serves it."""
    keychain = keychain_for(registry)
    if keychain is None:
        return ""
    return f"the {keychain.name} keychain serves {registry}: {why or keychain.enable}"
