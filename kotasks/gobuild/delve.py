"""Delve for ``--debug`` images: built once per version and platform, from the Go module proxy.

ko clones Delve's git repository on every debug build; kotasks builds
``github.com/go-delve/delve/cmd/dlv`` at a pinned version in a temporary module (with the
user's Go settings: GOPROXY, GOFLAGS' network options…), ``-trimpath -ldflags=-s -w`` and
``CGO_ENABLED=0``, for the target platform, into a file its own task keeps: every debug image
of every run shares it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from kotasks import progress
from kotasks.errors import GoError
from kotasks.gobuild.build import install_binary
from kotasks.gobuild.toolchain import Toolchain, build_environment
from kotasks.oci.descriptor import Platform

log = logging.getLogger("kotasks")

#: the Delve version debug images get (KOTASKS_DELVE_VERSION)
DEFAULT_DELVE_VERSION = "v1.27.2"
DELVE_PACKAGE = "github.com/go-delve/delve/cmd/dlv"
DELVE_PATH = "/ko-app/dlv"
DELVE_COMMENT = f"Delve debugger, at {DELVE_PATH}"
DELVE_PORT = 40000


def supports_delve(platform: Platform) -> bool:
    """Whether debug images are made for ``platform`` (Delve's: linux/amd64, linux/arm64)."""
    return platform.os == "linux" and platform.architecture in ("amd64", "arm64")


def debug_entrypoint(app: str) -> list[str]:
    """ko's debug entrypoint: Delve serving ``app`` headless on port 40000."""
    return [DELVE_PATH, "exec", f"--listen=:{DELVE_PORT}", "--headless", "--log",
            "--accept-multiclient", "--api-version=2", "--", app]


def build_delve(tool: Toolchain, version: str, platform: Platform,
                environ: Mapping[str, str], target: str) -> None:
    """Build Delve ``version`` for ``platform`` into ``target`` (atomically)."""
    env = build_environment(platform, environ, [])
    env.update({"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOWORK": "off"})
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    # beside the target: the same file system for the final rename
    work = os.path.abspath(tempfile.mkdtemp(prefix=".delve-", dir=Path(target).parent))
    try:
        log.info("Building Delve %s for %s", version, platform)
        steps = [[tool.go, "mod", "init", "kotasks.invalid/delve"],
                 [tool.go, "get", f"{DELVE_PACKAGE}@{version}"],
                 [tool.go, "build", "-trimpath", "-ldflags=-s -w", "-o",
                  os.path.join(work, "dlv"), DELVE_PACKAGE]]
        with progress.building(f"Delve {version} for {platform}"):
            for argv in steps:
                proc = tool.run(argv, cwd=work, env=env)
                if proc.returncode != 0:
                    output = (proc.stderr + proc.stdout).decode(errors="replace").rstrip()
                    raise GoError(f"building Delve {version} for {platform} failed "
                                  f"({' '.join(argv[1:3])})", output)
        install_binary(os.path.join(work, "dlv"), target)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
