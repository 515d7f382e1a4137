"""Image names from import paths, as ko's namers make them (spec §5.1)."""

from __future__ import annotations

import enum
import hashlib
import posixpath


class Naming(enum.Enum):
    """ko's naming strategies, in precedence order -P > -B > --bare > default."""

    MD5 = "md5"
    PRESERVE = "preserve-import-paths"
    BASE = "base-import-paths"
    BARE = "bare"


def _join(base: str, suffix: str) -> str:
    """Go's path.Join: join, clean, drop empty elements."""
    joined = posixpath.normpath(posixpath.join(base, suffix) if base else suffix)
    return "" if joined == "." else joined


def image_name(base: str, import_path: str, naming: Naming) -> str:
    """Return the image name for ``import_path`` under ``base`` (``KO_DOCKER_REPO``)."""
    if naming is Naming.PRESERVE:
        return _join(base, import_path)
    if naming is Naming.BASE:
        return _join(base, posixpath.basename(import_path))
    if naming is Naming.BARE:
        return base
    digest = hashlib.md5(import_path.encode(), usedforsecurity=False).hexdigest()
    return _join(base, f"{posixpath.basename(import_path)}-{digest}")


def naming_from_flags(preserve: bool, base_paths: bool, bare: bool) -> Naming:
    """Pick the strategy the flags ask for (ko's precedence)."""
    if preserve:
        return Naming.PRESERVE
    if base_paths:
        return Naming.BASE
    if bare:
        return Naming.BARE
    return Naming.MD5
