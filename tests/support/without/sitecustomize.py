"""On PYTHONPATH for a test's child process: the modules named in ``KOTASKS_TEST_WITHOUT``
(comma-separated top-level packages) cannot be imported, as if an optional extra were not
installed."""

from __future__ import annotations

import importlib.abc
import os
import sys

_HIDDEN = {name for name in os.environ.get("KOTASKS_TEST_WITHOUT", "").split(",") if name}


class _Without(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in _HIDDEN or name in _HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


if _HIDDEN:
    sys.meta_path.insert(0, _Without())
