"""Where the build cache is: the one part of it a task needs at load time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CacheSpec:
    """Where the build cache is, and what the keys of one plan share (a task argument)."""

    repository: str
    insecure: bool
    #: seconds a cache request may take (KOTASKS_CACHE_TIMEOUT)
    timeout: float
    go_version: str
    state_dir: str
    #: the OCI layout blobs go into
    store: str
