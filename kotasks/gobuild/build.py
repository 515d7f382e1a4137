"""``go build`` of one main package for one platform, exactly as ko invokes it."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kotasks.errors import GoError
from kotasks.fsutil import same_content
from kotasks.gobuild.toolchain import Toolchain
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

    def argv(self, go: str, output: str) -> list[str]:
        """The command line: flags, -trimpath, [-gcflags], [-ldflags=…], -o out, package."""
        args = [go, "build", *self.flags, "-trimpath"]
        if self.disable_optimizations:
            args += ["-gcflags", "all=-N -l"]
        if self.ldflags:
            args.append("-ldflags=" + " ".join(self.ldflags))
        return [*args, "-o", output, self.import_path]


def build_binary(tool: Toolchain, request: BuildRequest, target: str | os.PathLike[str]) -> bool:
    """Build into ``target``; return whether its bytes changed.

    The new binary is written beside the target and moved into place only if it differs,
    so an identical rebuild keeps the old file and its mtime: nothing downstream re-hashes it.
    """
    check_no_toolexec(request.flags, request.env.get("GOFLAGS", ""), "go build flags")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        log.info("Building %s for %s", request.import_path, request.platform)
        proc = tool.run(request.argv(tool.go, tmp), cwd=request.workdir, env=request.env)
        if proc.returncode != 0:
            output = (proc.stderr + proc.stdout).decode(errors="replace").rstrip()
            raise GoError(f"go build {request.import_path} for {request.platform} failed",
                          output)
        if same_content(tmp, target):
            return False
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def binary_name(import_path: str) -> str:
    """ko's in-image binary name: the last path element, or ``ko-app`` for ``.`` and ``/``."""
    base = import_path.rstrip("/").rsplit("/", 1)[-1] if import_path.strip("/") else ""
    return base if base not in ("", ".") else "ko-app"

