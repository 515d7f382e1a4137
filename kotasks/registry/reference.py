"""Image references (``[registry/]repository[:tag][@digest]``) with Docker Hub normalisation."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from kotasks.errors import UserError

DOCKER_HUB = "index.docker.io"
DEFAULT_TAG = "latest"
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HOST = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
                   r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])"
                   r"(?::[0-9]+)?$")


@dataclass(frozen=True)
class Repository:
    """A repository in a registry: ``registry`` is a host[:port], ``path`` the repository."""

    registry: str
    path: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.path}"


@dataclass(frozen=True)
class Reference:
    """A parsed image reference; ``tag`` and ``digest`` may both be set."""

    repository: Repository
    tag: str = ""
    digest: str = ""

    @property
    def registry(self) -> str:
        return self.repository.registry

    @property
    def identifier(self) -> str:
        """What to ask the registry for: the digest when there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        text = str(self.repository)
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _split_registry(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        if not _HOST.match(first):
            raise ValueError(f"invalid registry host {first!r}")
        registry = DOCKER_HUB if first == "docker.io" else first
        return registry, rest
    return DOCKER_HUB, name


def parse_repository(text: str, what: str = "repository") -> Repository:
    """Parse ``[registry/]path`` (no tag, no digest), normalising Docker Hub names."""
    if not text:
        raise UserError(f"{what}: empty repository name")
    if "@" in text:
        raise UserError(f"{what} {text!r}: a repository is expected, not a digest reference")
    try:
        registry, path = _split_registry(text)
    except ValueError as exc:
        raise UserError(f"{what} {text!r}: {exc}") from None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        raise UserError(f"{what} {text!r}: a repository is expected, not a tagged reference "
                        f"(remove ':{last.split(':', 1)[1]}')")
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            raise UserError(f"{what} {text!r}: invalid path component {component!r} (expected "
                            "lowercase letters, digits and separators . _ __ -)")
    if len(str(path)) > 255:
        raise UserError(f"{what} {text!r}: repository name longer than 255 characters")
    return Repository(registry, path)


def parse_registry_or_repository(text: str, what: str) -> tuple[str, str]:
    """Parse ``KO_DOCKER_REPO``-like values: a bare registry host or a repository.

    Returns (registry, repository path prefix) where the prefix may be empty.
    """
    if "/" not in text and ("." in text or ":" in text or text == "localhost"):
        host = text
        if ":" in host and not re.match(r"^.+:[0-9]+$", host):
            raise UserError(f"{what} {text!r}: a repository is expected, not a tagged reference")
        if not _HOST.match(host):
            raise UserError(f"{what} {text!r}: invalid registry host")
        return (DOCKER_HUB if host == "docker.io" else host), ""
    repo = parse_repository(text, what)
    return repo.registry, repo.path


def parse_reference(text: str, what: str = "image reference") -> Reference:
    """Parse ``[registry/]repository[:tag][@sha256:…]``; the tag defaults to ``latest``."""
    if not text or text != text.strip():
        raise UserError(f"{what} {text!r}: expected [registry/]repository[:tag][@sha256:<hex>]")
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise UserError(f"{what} {text!r}: invalid digest {digest!r} (expected sha256:<64 hex>)")
    tag = ""
    head, sep, last = name.rpartition("/")
    if ":" in last:
        last, tag = last.split(":", 1)
        if not _TAG.match(tag):
            raise UserError(f"{what} {text!r}: invalid tag {tag!r}")
        name = f"{head}{sep}{last}"
    repo = parse_repository(name, what)
    if not tag and not digest:
        tag = DEFAULT_TAG
    return Reference(repo, tag, digest)


def allows_plain_http(registry: str) -> bool:
    """Whether a registry may be spoken to without TLS: localhost and loopback addresses."""
    host = registry.rsplit(":", 1)[0] if not registry.endswith("]") else registry
    host = host.strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
