"""The ``kotasks`` verbs print ko's log lines: doit's step lines only with ``-v``, and one
line for a run that did nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.project import run_kotasks

pytestmark = pytest.mark.slow


def test_kotasks_speaks_as_ko_and_v_adds_the_steps(hello: Path) -> None:
    quiet = run_kotasks(hello, "build", "./cmd/app", verbose=False).ok()
    assert quiet.executed == [] and "Building example.com/hello/cmd/app for linux/amd64" \
        in quiet.stderr
    nothing = run_kotasks(hello, "build", "./cmd/app", "./cmd/worker", verbose=False).ok()
    assert "kotasks: nothing to do (2 images up to date)" not in nothing.stderr  # worker ran
    idle = run_kotasks(hello, "build", "./cmd/app", "./cmd/worker", verbose=False).ok()
    assert idle.stderr.splitlines()[-1] == "kotasks: nothing to do (2 images up to date)"
    assert len(idle.refs) == 2
    listed = run_kotasks(hello, "build", "./cmd/app", "./cmd/worker").ok()  # -v
    assert "-- build:cmd/app" in listed.stderr
    hello_go = hello / "cmd/app/main.go"
    hello_go.write_text(hello_go.read_text() + "\n// moved\n")
    assert "gobuild:cmd/app@linux/amd64" in run_kotasks(hello, "build", "./cmd/app").ok().executed
