"""The entries of ko's kodata layer: ``<package>/kodata`` as found under ``/var/run/ko``.

Walk order, names and symlink rules are ko's (spec §4.1): a lexical depth-first walk; each
directory becomes a directory entry; symlinks are followed, a link to a directory is walked
as if it were one; every resolved target must lie inside the *allowed root* (the kodata
directory, widened to ``KO_DATA_PATH_ALLOWED_ROOT`` or else to the nearest ancestor holding
``.git``, when that is an ancestor of kodata). On Windows symlinks are skipped, as in ko.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from kotasks.errors import UserError

log = logging.getLogger("kotasks")
LINUX_ROOT = "/var/run/ko"
WINDOWS_ROOT = "Files/var/run/ko"


@dataclass(frozen=True)
class KodataEntry:
    """A directory or a regular file (with the host file it comes from) in the layer."""

    name: str
    source: str = ""

    @property
    def is_dir(self) -> bool:
        return not self.source


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def allowed_root(kodata_dir: str, environ: Mapping[str, str]) -> str:
    """Return the directory that kodata symlinks may resolve into."""
    kodata = os.path.realpath(kodata_dir)
    candidate = environ.get("KO_DATA_PATH_ALLOWED_ROOT", "")
    if candidate:
        candidate = os.path.realpath(candidate)
    else:
        for parent in Path(kodata).parents:
            if (parent / ".git").exists():
                candidate = str(parent)
                break
    if candidate and _is_within(kodata, candidate):
        return candidate
    return kodata


def kodata_entries(kodata_dir: str, root: str, windows: bool = False) -> Iterator[KodataEntry]:
    """Yield the layer's entries below the fixed parent directories, in ko's order."""
    chroot = WINDOWS_ROOT if windows else LINUX_ROOT
    if not os.path.isdir(kodata_dir):
        return
    yield from _walk(os.path.realpath(kodata_dir), chroot, root, windows, set())


def _walk(host_dir: str, chroot: str, root: str, windows: bool,
          active: set[str]) -> Iterator[KodataEntry]:
    active = active | {host_dir}
    for name in sorted(os.listdir(host_dir)):
        host_path = os.path.join(host_dir, name)
        new_path = f"{chroot}/{name}"
        if os.path.islink(host_path):
            if windows:
                log.info("skipping symlink in kodata for windows: %s", name)
                continue
            resolved = os.path.realpath(host_path)
            if not os.path.exists(resolved):
                raise UserError(f"kodata: {host_path}: symlink target {os.readlink(host_path)} "
                                "does not exist")
            if not _is_within(resolved, root):
                raise UserError(f"kodata: {host_path}: symlink resolves to {resolved}, outside "
                                f"the allowed root {root} (set KO_DATA_PATH_ALLOWED_ROOT to "
                                "widen it)")
        else:
            resolved = host_path
        if os.path.isdir(resolved):
            if resolved in active:
                raise UserError(f"kodata: {host_path}: symlink cycle back to {resolved}")
            yield KodataEntry(new_path)
            yield from _walk(resolved, new_path, root, windows, active)
        elif os.path.isfile(resolved):
            yield KodataEntry(new_path, resolved)


def kodata_inputs(kodata_dir: str) -> list[str]:
    """Every file the layer will read, leniently (for up-to-date checks; errors come later)."""
    found: set[str] = set()
    seen: set[str] = set()
    stack = [kodata_dir]
    while stack:
        directory = stack.pop()
        real = os.path.realpath(directory)
        if real in seen or not os.path.isdir(real):
            continue
        seen.add(real)
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isdir(path):
                stack.append(path)
            elif os.path.isfile(path):
                found.add(path)
    return sorted(found)
