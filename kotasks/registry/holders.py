"""Which repository of a registry this process has seen holding a blob.

A second upload of the same bytes to another repository of that registry becomes a
cross-repository mount: one upload instead of two for an image and its build-cache artifact
on the same registry, or for images that share a layer. While the blob is on its way to
one repository, an upload of it to another waits for that one, then mounts.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_lock = threading.Lock()
#: (registry, digest) → a repository there that holds the blob
_held: dict[tuple[str, str], str] = {}
#: (registry, digest) → set when the upload of it under way in this process ends
_moving: dict[tuple[str, str], threading.Event] = {}


def note(registry: str, repository: str, digest: str) -> None:
    """``repository`` on ``registry`` holds ``digest`` (it said so, or took the upload)."""
    with _lock:
        _held.setdefault((registry, digest), repository)


@contextlib.contextmanager
def uploading(registry: str, repository: str, digest: str) -> Iterator[str]:
    """Around an upload of ``digest`` to ``repository``: first wait while this process is
    sending the same blob to the registry elsewhere; yield a repository known to hold it
    ('' if none, then this upload is the one the others wait for); when the block ends
    without an error, ``repository`` holds it."""
    key = (registry, digest)
    while True:
        with _lock:
            holder = _held.get(key, "")
            moving = None if holder else _moving.get(key)
            if moving is None:
                mine = None if holder else _moving.setdefault(key, threading.Event())
                break
        moving.wait()
    try:
        yield holder
        note(registry, repository, digest)
    finally:
        if mine is not None:
            with _lock:
                _moving.pop(key, None)
            mine.set()
