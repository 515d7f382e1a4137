"""Live progress: bars on a terminal (bytes sent per blob, and in all), nothing of the sort
through a pipe, and stdout exactly the references either way."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.faultproxy import Fault, FaultProxy, start_fault_proxy
from tests.support.project import build_env
from tests.support.registry import Registry

pytestmark = pytest.mark.slow


@pytest.fixture
def slow_proxy(registry: Registry) -> Iterator[FaultProxy]:
    """Every upload answered half a second late, so that there is progress to show."""
    started = start_fault_proxy(registry.host,
                                [Fault(r"^PUT /v2/.+/blobs/uploads/", delay=0.5, times=-1)])
    yield started
    started.stop()


def build(module: Path, repo: str, terminal: bool) -> tuple[str, str]:
    """Run a build with stderr on a pseudo-terminal (or a pipe); return (stdout, stderr)."""
    env = build_env({"KO_DOCKER_REPO": repo, "TERM": "xterm", "COLUMNS": "120"})
    argv = [sys.executable, "-m", "kotasks", "build", "./cmd/app", "./cmd/worker"]
    if not terminal:
        proc = subprocess.run(argv, cwd=module, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout, proc.stderr
    master, slave = pty.openpty()
    with subprocess.Popen(argv, cwd=module, env=env, stdout=subprocess.PIPE, stderr=slave,
                          text=True) as proc:
        os.close(slave)
        chunks: list[bytes] = []

        def read() -> None:
            while True:
                try:
                    data = os.read(master, 1 << 16)
                except OSError:  # EIO: the other side is closed
                    return
                if not data:
                    return
                chunks.append(data)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        stdout = proc.stdout.read() if proc.stdout else ""
        assert proc.wait(timeout=300) == 0, b"".join(chunks).decode(errors="replace")
        reader.join(10)
    os.close(master)
    return stdout, b"".join(chunks).decode(errors="replace")


def test_progress_on_a_terminal_and_not_through_a_pipe(hello: Path, slow_proxy: FaultProxy
                                                       ) -> None:
    shown_out, shown_err = build(hello, f"{slow_proxy.host}/tty", terminal=True)
    plain_out, plain_err = build(hello, f"{slow_proxy.host}/pipe", terminal=False)
    assert "→ tty/app-" in shown_err and "\x1b[" in shown_err  # a live bar per blob
    assert "all blobs" in shown_err and "kB" in shown_err  # the overall line, in bytes
    assert "→" not in plain_err and "\x1b[" not in plain_err
    # ko's lines, not doit's task lines (those need -v)
    for err in (plain_err, shown_err):
        assert "Published " in err and ".  build:" not in err
    assert shown_out.replace("/tty/", "/x/").split("@")[0] == \
        plain_out.replace("/pipe/", "/x/").split("@")[0]
    for out in (shown_out, plain_out):
        lines = out.splitlines()
        assert len(lines) == 2 and all("@sha256:" in line for line in lines)
