"""A generated Go workspace of many images sharing one library, and a ``go`` that counts.

Benchmarks and the batched-build tests use the same workspace: module example.com/bench,
``internal/lib`` and ``cmd/app0`` … ``cmd/app<N-1>``, each main printing through the
library, each with a kodata file.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

PACKAGES = 10
LIBRARY = "internal/lib/lib.go"


def write_workspace(root: Path, packages: int = PACKAGES, serve: bool = True) -> Path:
    """Write the workspace at ``root`` (``serve``: each main also imports net/http, a
    realistic binary size); return ``root``."""
    (root / "internal/lib").mkdir(parents=True)
    (root / "go.mod").write_text("module example.com/bench\n\ngo 1.21\n")
    (root / LIBRARY).write_text(
        'package lib\n\nimport "strings"\n\n'
        "// Shout upper-cases its input.\n"
        "func Shout(s string) string { return strings.ToUpper(s) + \"!\" }\n")
    for i in range(packages):
        pkg = root / f"cmd/app{i}"
        (pkg / "kodata").mkdir(parents=True)
        (pkg / "kodata/data.txt").write_text(f"data of app{i}\n")
        imports = '\t"fmt"\n\t"net/http"\n' if serve else '\t"fmt"\n'
        body = '\t_ = http.ListenAndServe(":8080", nil)\n' if serve else ""
        (pkg / "main.go").write_text(
            f'package main\n\nimport (\n{imports}\n'
            '\t"example.com/bench/internal/lib"\n)\n\n'
            f'func main() {{\n\tfmt.Println(lib.Shout("app{i}"))\n{body}}}\n')
    (root / "dodo.py").write_text("from kotasks import tasks\n\nglobals().update(tasks())\n")
    (root / ".ko.yaml").write_text("defaultBaseImage: scratch\n")
    return root


def counting_go(directory: Path, real: str = "") -> tuple[Path, Path]:
    """A ``KO_GO_PATH`` wrapper around the real go (or ``real``) that appends each call
    (its GOOS/GOARCH and arguments) to a log; return (wrapper, log)."""
    real = real or shutil.which("go") or ""
    assert real, "go is not on PATH"
    log = directory / "go-calls.log"
    script = directory / "counting-go"
    script.write_text('#!/bin/sh\nprintf "%s/%s\\t%s\\n" "$GOOS" "$GOARCH" "$*" >> '
                      f'{shlex.quote(str(log))}\nexec {shlex.quote(real)} "$@"\n')
    script.chmod(0o755)
    return script, log


def go_builds(log: Path) -> list[tuple[str, list[str]]]:
    """The ``go build`` calls in a :func:`counting_go` log: (GOOS/GOARCH, the packages)."""
    if not log.exists():
        return []
    calls = []
    for line in log.read_text().splitlines():
        platform, argv = line.split("\t", 1)
        command, *args = argv.split()
        if command == "build":
            calls.append((platform, args[args.index("-o") + 2:]))
    return calls
