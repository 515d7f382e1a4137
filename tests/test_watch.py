"""``kotasks build --watch``: a round per change, a failed round keeps watching, SIGTERM ends
the watch at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.project import build_env, stderr_lines, wait_for_line

pytestmark = pytest.mark.slow


def test_a_failed_round_keeps_watching_and_sigterm_ends_it(local: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "kotasks", "build", "--watch", "--push=false",
                             "./cmd/other"], cwd=local, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=build_env())
    lines = stderr_lines(proc)
    main = local / "cmd/other/main.go"
    good = main.read_text()
    try:
        assert "built cmd/other" in wait_for_line(lines, "round 1:")
        main.write_text(good.replace("fmt.Println", "fmt.Printn"))
        assert "kotasks: error:" in wait_for_line(lines, "kotasks: error:")
        failed = wait_for_line(lines, "round 2:")
        assert "cmd/other/main.go changed" in failed and "failed" in failed
        main.write_text(good.replace('"other"', '"other, again"'))
        assert "built cmd/other" in wait_for_line(lines, "round 3:")
        (local / "README.txt").write_text("not an input\n")  # no round for this
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        proc.wait(timeout=5)
        assert time.monotonic() - started < 1.0 and proc.returncode == 130
        assert proc.stdout is not None
        refs = proc.stdout.read().split()
        assert len(refs) == 2 and all(r.startswith("other-") for r in refs)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rest = []
    while not lines.empty():
        rest.append(lines.get_nowait())
    assert not [line for line in rest if "round 4" in line], rest
