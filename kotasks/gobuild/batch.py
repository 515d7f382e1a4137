"""One ``go build`` for several main packages of one platform.

Go loads and plans the packages once, then compiles and links them in parallel
(ko-build/ko#314 measured 2× over a process per binary). Packages can share a process only
when everything else on the command line and in the environment is the same, and when Go's
output names in the directory ``-o`` names are distinct (Go silently overwrites one binary
with another of the same name).

A package that fails to compile does not stop the others: Go still writes the binaries it
could link, so the caller builds only the others again, alone, to get Go's own message.
"""

from __future__ import annotations

import logging
import os
import posixpath
from collections.abc import Sequence
from typing import Any

from kotasks import progress
from kotasks.fsutil import same_content
from kotasks.gobuild.build import BuildRequest, announce_build, seed_output
from kotasks.gobuild.toolchain import Toolchain
from kotasks.settings import check_no_toolexec

log = logging.getLogger("kotasks")


def batch_key(request: BuildRequest) -> tuple[Any, ...]:
    """What must be equal for two requests to share one ``go build`` process."""
    return (request.workdir, str(request.platform), tuple(sorted(request.env.items())),
            request.flags, request.ldflags, request.disable_optimizations)


def _is_version_element(element: str) -> bool:
    """Go's ``isVersionElement``: ``v2``, ``v3``… (not ``v0``, ``v1``, ``v1x``)."""
    if len(element) < 2 or element[0] != "v" or element[1] == "0" or element == "v1":
        return False
    return element[1:].isdigit()


def go_output_name(import_path: str, goos: str) -> str:
    """The file name Go gives a main package's binary in an ``-o DIR/`` build
    (``example.com/cmd/app/v2`` → ``app``; ``.exe`` on Windows)."""
    head, element = posixpath.split(import_path)
    if element != import_path and _is_version_element(element):
        element = posixpath.basename(head)
    return element + (".exe" if goos == "windows" else "")


def split_batches(requests: Sequence[BuildRequest]) -> list[list[int]]:
    """Group the requests (by index, in order) into batches that can share a process:
    the same :func:`batch_key`, and no two with the same output name."""
    batches: list[tuple[tuple[Any, ...], set[str], list[int]]] = []
    for i, request in enumerate(requests):
        key = batch_key(request)
        name = go_output_name(request.import_path, request.platform.os)
        for other_key, names, members in batches:
            if other_key == key and name not in names:
                names.add(name)
                members.append(i)
                break
        else:
            batches.append((key, {name}, [i]))
    return [members for _, _, members in batches]


def build_batch(tool: Toolchain, requests: Sequence[BuildRequest], outdir: str,
                previous: Sequence[str], parallelism: int = 0) -> dict[str, str]:
    """Build every request's package with one ``go build -o OUTDIR/ …`` (each starting from
    its ``previous`` binary, so Go links only what changed); return import path → the binary
    Go wrote, for each package it could build (a package that failed is missing, whatever
    Go's exit status)."""
    first = requests[0]
    if any(batch_key(r) != batch_key(first) for r in requests):
        raise ValueError("build_batch: the requests differ in more than their package")
    check_no_toolexec(first.flags, first.env.get("GOFLAGS", ""), "go build flags")
    for request, binary in zip(requests, previous, strict=True):
        announce_build(request)
        seed_output(binary, _output(outdir, request))
    packages = [r.import_path for r in requests]
    with progress.building(*(f"{r.import_path} for {r.platform}" for r in requests)):
        proc = tool.run(first.argv(tool.go, outdir + os.sep, packages, parallelism),
                        cwd=first.workdir, env=first.env)
    if proc.returncode != 0:
        log.debug("kotasks: batched go build of %d packages failed:\n%s", len(packages),
                  (proc.stderr + proc.stdout).decode(errors="replace").rstrip())
    built = {}
    for request, binary in zip(requests, previous, strict=True):
        path = _output(outdir, request)
        # after a failure, a binary still equal to its seed may be one Go did not get to
        if os.path.isfile(path) and (proc.returncode == 0 or not same_content(path, binary)):
            built[request.import_path] = path
    return built


def _output(outdir: str, request: BuildRequest) -> str:
    return os.path.join(outdir, go_output_name(request.import_path, request.platform.os))
