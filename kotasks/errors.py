"""The one exception root of kotasks and its branches.

Every error a user can cause or meet is a :class:`KotasksError`; its ``str`` is one line that
names what was being done, to what, and what was expected. Only the CLI and the doit adapter
turn these into exit codes and printed lines.
"""

from __future__ import annotations


class KotasksError(Exception):
    """Root of every error kotasks raises on purpose."""

    #: extra text shown once, after the one-line message (a compiler's output, say)
    details: str = ""


class UserError(KotasksError):
    """Bad input: a flag, an environment variable, a config field, a package path."""


class ConfigError(UserError):
    """A malformed configuration value, located by file and key path."""

    def __init__(self, where: str, key: str, expected: str) -> None:
        self.where, self.key, self.expected = where, key, expected
        super().__init__(f"{where}: {key}: {expected}" if key else f"{where}: {expected}")


class GoError(KotasksError):
    """The Go toolchain is missing, or `go list` / `go build` failed."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class ImageError(KotasksError):
    """An image, layer or index could not be assembled or is inconsistent."""


class CorruptBlobError(ImageError):
    """A blob in the store no longer matches its digest (it was removed, to be rebuilt)."""


class ValidationError(ImageError):
    """An image or index fails the structural checks of :mod:`kotasks.oci.validate`."""


class RegistryError(KotasksError):
    """A registry answered with an error, or could not be reached.

    The message names the registry, the repository, the HTTP status and the registry's own
    error code (from the distribution spec's error body) when there is one.
    """

    #: whether another try may mend it (a connection reset or timeout, not a refusal)
    retryable = False

    def __init__(
        self,
        registry: str,
        repository: str,
        action: str,
        status: int | None = None,
        code: str = "",
        message: str = "",
    ) -> None:
        self.registry, self.repository, self.action = registry, repository, action
        self.status, self.code, self.message = status, code, message
        parts = [f"{action} {registry}/{repository}" if repository else f"{action} {registry}"]
        if status is not None:
            parts.append(f"HTTP {status}")
        if code:
            parts.append(code)
        if message:
            parts.append(message)
        super().__init__(": ".join(parts))


class DaemonError(KotasksError):
    """A Docker (or podman) daemon, or a kind node in it, could not be reached or refused."""

    def __init__(self, endpoint: str, action: str, reason: str) -> None:
        self.endpoint, self.action, self.reason = endpoint, action, reason
        super().__init__(f"{action} (Docker daemon at {endpoint}): {reason}")
