"""Content digests in the ``sha256:<hex>`` form used by the OCI specs."""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

from kotasks.errors import ImageError

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
CHUNK = 1 << 20


class Readable(Protocol):
    """Anything with ``read(n)`` returning bytes: a file, a socket stream, a wrapper."""

    def read(self, n: int = -1, /) -> bytes: ...


def sha256_digest(data: bytes) -> str:
    """Return the ``sha256:<hex>`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(value: str) -> str:
    """Return ``value`` if it is a well-formed sha256 digest, else raise ImageError."""
    if not _DIGEST.match(value):
        raise ImageError(f"malformed digest {value!r}: expected sha256:<64 lowercase hex digits>")
    return value


def digest_hex(value: str) -> str:
    """Return the hex part of a ``sha256:<hex>`` digest."""
    return check_digest(value).split(":", 1)[1]

