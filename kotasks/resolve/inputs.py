"""The YAML files ``-f`` names, enumerated as ko does (stdin kept as a file for doit)."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence

from kotasks.errors import UserError
from kotasks.fsutil import write_atomic

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


def _walk(directory: str, recursive: bool) -> list[str]:
    found = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            if recursive:
                found.extend(_walk(path, recursive))
        elif name.endswith(SUFFIXES):
            found.append(path)
    return found


def input_files(names: Sequence[str], recursive: bool, stdin_dir: str) -> list[str]:
    """Files to resolve, in order: named files always; ``.yaml``/``.yml``/``.json`` files of
    named directories (sub-directories only with ``recursive``); ``-`` reads standard input
    once and keeps it under ``stdin_dir`` so that doit can watch it like any file."""
    files: list[str] = []
    for name in names:
        if name == STDIN:
            data = sys.stdin.buffer.read()
            path = os.path.join(stdin_dir, hashlib.sha256(data).hexdigest()[:16] + ".yaml")
            if not os.path.exists(path):
                write_atomic(path, data)
            files.append(path)
        elif os.path.isdir(name):
            files.extend(_walk(os.path.normpath(name), recursive))
        elif os.path.isfile(name):
            files.append(os.path.normpath(name))
        else:
            raise UserError(f"-f {name}: no such file or directory")
    return files
