"""What ``go list`` reads from a source tree, captured so it can be re-checked in milliseconds.

The listing changes only if a directory gains or loses an entry, a ``.go`` file's package
clause, imports or ``//go:`` directives change, or ``go.mod``/``go.sum``/``go.work`` change.
So the state is: each directory's entry names (dot-files such as editor swap files left out,
as Go ignores them), and for each relevant file its ``(mtime, size)`` plus a digest — of the
*header* for ``.go`` files (everything before the first declaration, and every ``//go:``
line), of the whole content for the module files. A body edit changes the mtime but not the
digest, so it does not cost a new ``go list``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

SKIP_DIRS = ("testdata", "vendor")
MODULE_FILES = ("go.mod", "go.sum", "go.work")
_DECLARATIONS = (b"func ", b"func(", b"type ", b"var ", b"var(", b"const ", b"const(")


def go_header_digest(path: str) -> str:
    """Digest the part of a Go file that ``go list`` reads: header and ``//go:`` lines."""
    kept: list[bytes] = []
    in_comment = False
    in_header = True
    with open(path, "rb") as f:
        for line in f:
            stripped = line.strip()
            if in_header and not in_comment and stripped.startswith(_DECLARATIONS):
                in_header = False
            if in_header or stripped.startswith(b"//go:"):
                kept.append(stripped)
            if in_header:
                # track block comments so a "func" inside one does not end the header
                opened, closed = stripped.rfind(b"/*"), stripped.rfind(b"*/")
                if opened > closed:
                    in_comment = True
                elif closed > opened:
                    in_comment = False
    return hashlib.sha256(b"\n".join(kept)).hexdigest()


def content_digest(path: str) -> str:
    """Digest a whole (small) file."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _digest(path: str) -> str:
    return go_header_digest(path) if path.endswith(".go") else content_digest(path)


def _scan(roots: Iterable[str], extra_files: Iterable[str]
          ) -> tuple[dict[str, list[str]], dict[str, tuple[int, int] | None]]:
    dirs: dict[str, list[str]] = {}
    stats: dict[str, tuple[int, int] | None] = {}
    for root in roots:
        stack = [root]
        while stack:
            directory = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except (FileNotFoundError, NotADirectoryError):
                dirs[directory] = []
                continue
            dirs[directory] = sorted(e.name for e in entries if not e.name.startswith("."))
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if name.startswith("_") or name in SKIP_DIRS:
                        continue
                    if directory != root and os.path.exists(os.path.join(entry.path, "go.mod")):
                        continue
                    stack.append(entry.path)
                elif name.endswith(".go") or name in MODULE_FILES:
                    st = entry.stat()
                    stats[entry.path] = (st.st_mtime_ns, st.st_size)
    for path in extra_files:
        try:
            st = os.stat(path)
            stats[path] = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stats[path] = None
    return dirs, stats


@dataclass
class TreeState:
    """Directory listings and file digests of one or more source trees."""

    dirs: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[Any] | None] = field(default_factory=dict)

    @classmethod
    def capture(cls, roots: Iterable[str], extra_files: Iterable[str] = ()) -> TreeState:
        """Take the state of ``roots`` (walked) and ``extra_files`` now."""
        dirs, stats = _scan(roots, extra_files)
        files = {p: [st[0], st[1], _digest(p)] if st else None for p, st in stats.items()}
        return cls(dirs, files)

    def matches(self, roots: Iterable[str], extra_files: Iterable[str] = ()) -> bool:
        """Whether the trees still give the same listing; refreshes mtimes that moved."""
        dirs, stats = _scan(roots, extra_files)
        if dirs != self.dirs or stats.keys() != self.files.keys():
            return False
        for path, st in stats.items():
            known = self.files[path]
            if st is None or known is None:
                if st != known:
                    return False
                continue
            if (st[0], st[1]) == (known[0], known[1]):
                continue
            if _digest(path) != known[2]:
                return False
            self.files[path] = [st[0], st[1], known[2]]
        return True

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form for the cache file."""
        return {"dirs": self.dirs, "files": self.files}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TreeState:
        """Read :meth:`to_json`'s output."""
        return cls(dict(data["dirs"]), dict(data["files"]))
