"""A file checker for doit that hashes each file at most once per process.

doit's MD5 checker re-hashes a file for every task that depends on it, and on every run once
its mtime has drifted (a CI checkout, a ``touch``). This one keeps the same
``(mtime, size, digest)`` state but memoises the digest per ``(path, mtime_ns, size)``.
"""

from __future__ import annotations

import os
from typing import Any

from doit.dependency import FileChangedChecker

from kotasks.fsutil import file_digest


class MemoHashChecker(FileChangedChecker):
    """Same mtime → unchanged; different size → changed; else compare content digests."""

    def check_modified(self, file_path: str, file_stat: os.stat_result, state: Any) -> bool:
        mtime, size, digest = state
        if file_stat.st_mtime == mtime:
            return False
        if file_stat.st_size != size:
            return True
        return bool(file_digest(file_path, file_stat) != digest)

    def get_state(self, dep: str, current_state: Any) -> Any:
        st = os.stat(dep)
        if current_state and current_state[0] == st.st_mtime:
            return None
        return st.st_mtime, st.st_size, file_digest(dep, st)
