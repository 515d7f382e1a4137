"""``go build`` of one main package for one platform, exactly as ko invokes it."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kotasks import progress
from kotasks.errors import GoError
from kotasks.fsutil import same_content
from kotasks.gobuild.toolchain import Toolchain
from kotasks.gobuild.vcs import git_info_warning
from kotasks.oci.descriptor import Platform
from kotasks.settings import check_no_toolexec

log = logging.getLogger("kotasks")


@dataclass(frozen=True)
class BuildRequest:
    """Everything ``go build`` needs; ``flags`` and ``ldflags`` are already templated."""

    import_path: str
    workdir: str
    platform: Platform
    env: Mapping[str, str]
    flags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    disable_optimizations: bool = False

    def argv(self, go: str, output: str, packages: Sequence[str] = (),
             parallelism: int = 0) -> list[str]:
        """The command line: [-p N], flags, -trimpath, [-gcflags], [-ldflags=…], -o out,
        the package (or ``packages``, built together into the directory ``output``).

        ``-p`` is added only when neither the flags nor GOFLAGS set it: the user's wins.
        """
        args = [go, "build"]
        if parallelism and not _sets_parallelism([*self.flags,
                                                  *self.env.get("GOFLAGS", "").split()]):
            args.append(f"-p={parallelism}")
        args += [*self.flags, "-trimpath"]
        if self.disable_optimizations:
            args += ["-gcflags", "all=-N -l"]
        if self.ldflags:
            args.append("-ldflags=" + " ".join(self.ldflags))
        return [*args, "-o", output, *(packages or [self.import_path])]


def _sets_parallelism(flags: Sequence[str]) -> bool:
    return any(f in ("-p", "--p") or f.startswith(("-p=", "--p=")) for f in flags)


def announce_build(request: BuildRequest) -> None:
    """ko's lines before a go build: git's warning where it has no repository, then
    ``Building <import path> for <platform>``."""
    warning = git_info_warning(request.workdir)
    # one record: parallel builds' lines do not interleave
    log.info("%sBuilding %s for %s", f"{warning}\n" if warning else "", request.import_path,
             request.platform)


def build_binary(tool: Toolchain, request: BuildRequest, target: str | os.PathLike[str],
                 parallelism: int = 0, announce: bool = True) -> bool:
    """Build into ``target``; return whether its bytes changed.

    The new binary is written beside the target and moved into place only if it differs,
    so an identical rebuild keeps the old file and its mtime: nothing downstream re-hashes it.
    ``announce`` logs ko's ``Building … for …`` line (off when a batch has said it already).
    """
    check_no_toolexec(request.flags, request.env.get("GOFLAGS", ""), "go build flags")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        seed_output(target, tmp)
        if announce:
            announce_build(request)
        with progress.building(f"{request.import_path} for {request.platform}"):
            proc = tool.run(request.argv(tool.go, tmp, parallelism=parallelism),
                            cwd=request.workdir, env=request.env)
        if proc.returncode != 0:
            output = (proc.stderr + proc.stdout).decode(errors="replace").rstrip()
            raise GoError(f"go build {request.import_path} for {request.platform} failed",
                          output)
        return install_binary(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def seed_output(previous: str | os.PathLike[str], output: str | os.PathLike[str]) -> None:
    """Start Go's output as a copy of the binary built last time, if any: when its build
    ID shows it is what Go would link now (a comment-only edit), Go skips the link."""
    with contextlib.suppress(FileNotFoundError):
        shutil.copyfile(previous, output)


def install_binary(built: str | os.PathLike[str], target: str | os.PathLike[str]) -> bool:
    """Move a freshly built binary to ``target`` unless ``target`` has its bytes already;
    return whether it changed (an unchanged target keeps its mtime: early cut-off)."""
    if same_content(built, target):
        return False
    os.chmod(built, 0o755)
    os.replace(built, target)
    return True


def binary_name(import_path: str) -> str:
    """ko's in-image binary name: the last path element, or ``ko-app`` for ``.`` and ``/``."""
    base = import_path.rstrip("/").rsplit("/", 1)[-1] if import_path.strip("/") else ""
    return base if base not in ("", ".") else "ko-app"

