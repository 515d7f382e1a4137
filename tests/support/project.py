"""Copies of Go modules to build, and the two ways to build them: ``doit`` and ``kotasks``."""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FIXTURES = ROOT / "tests" / "fixtures"
_EXECUTED = re.compile(r"^\.  (\S+)$", re.MULTILINE)


@dataclass
class Result:
    """A finished kotasks or doit run."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def executed(self) -> list[str]:
        """The tasks that ran (their ``.  <task>`` progress lines)."""
        return _EXECUTED.findall(self.stderr)

    def ran(self, prefix: str) -> list[str]:
        """The executed tasks whose names start with ``prefix``."""
        return [t for t in self.executed if t.startswith(prefix)]

    @property
    def refs(self) -> list[str]:
        return self.stdout.split()

    def ok(self) -> Result:
        assert self.returncode == 0, f"exit {self.returncode}\n{self.stdout}\n{self.stderr}"
        return self


def build_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment tests build in: offline Go, no ambient registry settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KO_", "KOTASKS_", "GOOS", "GOARCH", "GOARM", "SOURCE_DATE"))}
    env.update({"GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "-mod=mod",
                "GOSUMDB": "off", "KOTASKS_QUIET": ""})
    env.update(extra or {})
    return env


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """:func:`build_env` for benchmarks: bytecode caching on (a user's Python caches it; a
    PYTHONDONTWRITEBYTECODE=1 inherited from a shell would add compiling every module to
    every run measured)."""
    env = build_env(extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def copy_module(source: Path, dest: Path) -> Path:
    """Copy a Go module (keeping symlinks) to ``dest`` and return it."""
    shutil.copytree(source, dest, symlinks=True,
                    ignore=shutil.ignore_patterns(".kotasks", "__pycache__"))
    return dest


def run_kotasks(cwd: Path, *args: str, env: dict[str, str] | None = None,
                timeout: float = 300, verbose: bool = True) -> Result:
    """Run ``kotasks <args>`` in ``cwd`` (``verbose``: with ``-v``, so that the steps it ran
    can be read from stderr; without, it speaks as ko)."""
    proc = subprocess.run([sys.executable, "-m", "kotasks", *(["-v"] if verbose else []),
                           *args], cwd=cwd,
                          env=build_env(env), capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_doit(cwd: Path, *args: str, env: dict[str, str] | None = None,
             timeout: float = 300) -> Result:
    """Run ``doit <args>`` in ``cwd`` (which has a dodo.py using kotasks)."""
    proc = subprocess.run([sys.executable, "-m", "doit", *args], cwd=cwd, env=build_env(env),
                          capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def append(path: Path, text: str) -> None:
    """Append text to a file (a new mtime, new content)."""
    with open(path, "a") as f:
        f.write(text)


def image_file(module: Path, ref: str, path: str, dest: Path) -> Path:
    """Copy a file out of the top layer of an image in the module's ``.kotasks/oci``."""
    import tarfile

    from kotasks.oci.layout import Layout
    from kotasks.oci.manifest import parse_manifest

    layout = Layout(module / ".kotasks" / "oci")
    manifest = parse_manifest(layout.read(ref.split("@")[1]))
    with tarfile.open(layout.blob_path(manifest.layers[-1].digest), "r:gz") as tar:
        member = tar.extractfile(path)
        assert member is not None, f"{path} is not in the binary layer"
        dest.write_bytes(member.read())
    dest.chmod(0o755)
    return dest


def run_image_binary(module: Path, ref: str, name: str, dest: Path) -> str:
    """Run the image's ``/ko-app/<name>`` binary here (it is static); return its output."""
    binary = image_file(module, ref, f"/ko-app/{name}", dest / name)
    proc = subprocess.run([str(binary)], capture_output=True, text=True, timeout=30)
    return (proc.stdout + proc.stderr).strip()


def md5(import_path: str) -> str:
    """The hex MD5 ko puts in an image name (``<name>-<md5 of the import path>``)."""
    import hashlib

    return hashlib.md5(import_path.encode()).hexdigest()


def stderr_lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """A queue filled with a running process's stderr lines by a reader thread."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str], needle: str, timeout: float = 120) -> str:
    """Take lines until one holds ``needle``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"no line with {needle!r}:\n{''.join(seen)}")
