"""Atomic file writes (a reader never sees a half-written file, an interrupted run leaves
none), content comparison, and content digests hashed once per process."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: int = 0o644) -> Iterator[IO[bytes]]:
    """Yield a binary file that replaces ``path`` only when the block ends without error."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory, then rename)."""
    with atomic_writer(path, mode) as out:
        out.write(data)


def same_content(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Return whether two files hold the same bytes (size first, then a streamed compare)."""
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
    except FileNotFoundError:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True


_MEMO: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def file_digest(path: str, st: os.stat_result) -> str:
    """Return the sha256 hex digest of ``path``, memoised on its stat identity."""
    key = (os.path.abspath(path), st.st_mtime_ns, st.st_size)
    with _LOCK:
        cached = _MEMO.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    digest = h.hexdigest()
    with _LOCK:
        _MEMO[key] = digest
    return digest
