"""doit's state under interruption and corruption: the next run is always correct."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.project import build_env, run_doit

pytestmark = pytest.mark.slow


def slow_go(directory: Path, pattern: str, seconds: float) -> Path:
    """A KO_GO_PATH wrapper around the real go that dawdles when building ``pattern``."""
    real = subprocess.run(["sh", "-c", "command -v go"], capture_output=True, text=True,
                          check=True).stdout.strip()
    script = directory / "slow-go"
    script.write_text(f'#!/bin/sh\ncase "$*" in *{pattern}*) sleep {seconds};; esac\n'
                      f'exec {real} "$@"\n')
    script.chmod(0o755)
    return script


def blobs_are_intact(store: Path) -> None:
    for blob in (store / "blobs" / "sha256").iterdir():
        if blob.name.startswith("."):
            continue
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name


@pytest.mark.parametrize("command", ["doit", "kotasks"])
def test_sigterm_keeps_finished_steps_and_the_next_run_completes(
        hello: Path, tmp_path: Path, command: str) -> None:
    env = build_env({"KO_GO_PATH": str(slow_go(tmp_path, "cmd/worker", 20))})
    # its own ldflags give the worker a go build of its own (not one batch with the app)
    with open(hello / ".ko.yaml", "a") as config:
        config.write("builds:\n- id: worker\n  main: ./cmd/worker\n  ldflags: [-s]\n")
    argv = ([sys.executable, "-m", "doit", "-n", "1"] if command == "doit" else
            [sys.executable, "-m", "kotasks", "build", "-j", "1", "./cmd/app", "./cmd/worker"])
    proc = subprocess.Popen(argv, cwd=hello, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 120
    while "Building example.com/hello/cmd/worker" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode != 0
    if command == "kotasks":
        assert proc.returncode == 130 and "interrupted" in rest
    assert "Traceback" not in rest and "interrupted; finished steps were recorded" in rest
    blobs_are_intact(hello / ".kotasks" / "oci")

    again = run_doit(hello).ok()
    assert not again.ran("gobuild:cmd/app")  # finished before the signal: recorded
    assert "gobuild:cmd/worker@linux/amd64" in again.executed
    assert len(again.refs) == 2
    assert run_doit(hello).ok().executed == []


def test_unreadable_state_file_is_moved_aside_and_everything_rebuilds(hello: Path) -> None:
    first = run_doit(hello).ok()
    state = hello / ".kotasks" / "state.sqlite3"
    state.write_bytes(b"this is not a sqlite database" * 100)
    result = run_doit(hello).ok()
    assert "unreadable" in result.stderr and "moved it to" in result.stderr
    assert result.refs == first.refs
    assert [p.name for p in state.parent.iterdir() if ".corrupt-" in p.name]
    assert run_doit(hello).ok().executed == []


def test_deleted_store_blobs_are_rebuilt(hello: Path) -> None:
    first = run_doit(hello).ok()
    for blob in (hello / ".kotasks/oci/blobs/sha256").iterdir():
        os.unlink(blob)
    result = run_doit(hello).ok()
    assert result.ran("image:") and result.ran("layer:") and result.refs == first.refs
    assert not result.ran("gobuild:")
