"""``kotasks.lock``: the base images a module builds on, pinned by digest.

The file sits at the module root and is meant to be committed. For every base reference the
builds use (``defaultBaseImage``, ``baseImageOverrides``; not ``scratch``, not ``ko.local``
images from the Docker daemon) it holds the index or manifest digest the reference resolved
to, its media type, and for an index each platform's manifest digest. With a lock present,
builds use the locked digests and never look a tag up; ``kotasks lock --update`` resolves
the tags again. The text is written by hand, sorted and stable, one value per line, so that
diffs are small and a Renovate regex manager can update it::

    version: 1
    bases:
      "registry.example.com/base:v1":
        digest: sha256:…
        mediaType: application/vnd.oci.image.index.v1+json
        platforms:
          "linux/amd64": sha256:…
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kotasks.errors import ConfigError
from kotasks.fsutil import write_atomic

LOCK_NAME = "kotasks.lock"
VERSION = 1
HEADER = ("# kotasks.lock: the base images of this module, by digest. Written by `kotasks lock`\n"
          "# (`--update [REF]` resolves tags again); builds use these digests. Commit it.\n")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class LockedBase:
    """What one base reference is locked to."""

    digest: str
    media_type: str
    #: an index's platforms (``os/arch[/variant][:osversion]``) → manifest digest, sorted
    platforms: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BaseLock:
    """A read ``kotasks.lock``: where it is, and reference → locked base."""

    path: str
    bases: Mapping[str, LockedBase]


def lock_path(workdir: str) -> str:
    """Where a module's lock file is."""
    return os.path.join(workdir, LOCK_NAME)


def _digest(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise ConfigError(where, key, f"expected a digest sha256:<64 hex digits>, got {value!r}")
    return value


def parse_lock(text: str, where: str) -> BaseLock:
    """Validate a lock file's text; a malformed one is a :class:`ConfigError` naming the
    field and what was expected."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(where, "", f"{at}not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(where, "", "expected a mapping with version and bases")
    if data.get("version") != VERSION:
        raise ConfigError(where, "version", f"expected {VERSION}, got {data.get('version')!r}")
    bases = data.get("bases") or {}
    if not isinstance(bases, dict):
        raise ConfigError(where, "bases", "expected a mapping of base reference to its digest")
    locked = {}
    for reference, entry in bases.items():
        key = f"bases[{reference!r}]"
        if not isinstance(entry, dict):
            raise ConfigError(where, key, "expected a mapping with digest and mediaType")
        media_type = entry.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            raise ConfigError(where, f"{key}.mediaType", "expected a media type")
        platforms = entry.get("platforms") or {}
        if not isinstance(platforms, dict):
            raise ConfigError(where, f"{key}.platforms", "expected a mapping of platform to "
                                                         "digest")
        locked[str(reference)] = LockedBase(
            _digest(entry.get("digest"), where, f"{key}.digest"), media_type,
            tuple(sorted((str(p), _digest(d, where, f"{key}.platforms[{p!r}]"))
                         for p, d in platforms.items())))
    return BaseLock(where, locked)


def read_lock(workdir: str) -> BaseLock | None:
    """The module's lock, or None when it has none."""
    path = lock_path(workdir)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    return parse_lock(text, os.path.relpath(path))


def render_lock(bases: Mapping[str, LockedBase]) -> str:
    """The lock file's text: sorted, one value per line, the same bytes for the same bases."""
    lines = [HEADER, f"version: {VERSION}\n", "bases:" + ("\n" if bases else " {}\n")]
    for reference in sorted(bases):
        base = bases[reference]
        lines += [f"  {json.dumps(reference)}:\n", f"    digest: {base.digest}\n",
                  f"    mediaType: {base.media_type}\n"]
        if base.platforms:
            lines.append("    platforms:\n")
            lines += [f"      {json.dumps(p)}: {d}\n" for p, d in base.platforms]
    return "".join(lines)


def write_lock(workdir: str, bases: Mapping[str, LockedBase]) -> str:
    """Write the module's lock atomically; return its path."""
    path = lock_path(workdir)
    write_atomic(path, render_lock(bases).encode())
    return path
