"""The live view: on a terminal (tmux), one view of the whole run while it goes, gone at the
end, leaving the same lines a piped run prints; nothing of it through a pipe, with
``CI=true`` or with ``--no-progress`` (under ``script``: a terminal, and no escape codes)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from kotasks import progress
from tests.support.faultproxy import Fault, FaultProxy, start_fault_proxy
from tests.support.kubeapi import KubeAPI
from tests.support.project import EXAMPLES, FIXTURES, build_env, copy_module
from tests.support.registry import Registry

BUILD = ["build", "./cmd/app", "./cmd/worker", "--platform=linux/amd64,linux/arm64"]
DONE = "kotasks-test-exit="


@pytest.fixture
def slow_proxy(registry: Registry) -> Iterator[FaultProxy]:
    """The registry, each upload answered half a second late: there are bytes in flight."""
    started = start_fault_proxy(registry.host,
                                [Fault(r"^PUT /v2/.+/blobs/uploads/", delay=0.5, times=-1)])
    yield started
    started.stop()


def terminal_env(extra: dict[str, str]) -> dict[str, str]:
    """:func:`build_env` for a run on a terminal that wants the view: without what turns it
    off (``CI``, which CI machines set) or changes what rich thinks of the terminal."""
    env = {k: v for k, v in build_env().items()
           if k not in ("CI", "TTY_INTERACTIVE", "TTY_COMPATIBLE", "FORCE_COLOR", "NO_COLOR",
                        "COLUMNS", "LINES")}
    return {**env, "TERM": "xterm", **extra}


def slow_go(directory: Path, seconds: int = 1) -> Path:
    """A ``KO_GO_PATH`` that waits ``seconds`` before each ``go build``, so that builds are
    in flight long enough to be seen."""
    script = directory / "slow-go"
    script.write_text(f'#!/bin/sh\n[ "$1" = build ] && sleep {seconds}\n'
                      f'exec {shlex.quote(shutil.which("go") or "go")} "$@"\n')
    script.chmod(0o755)
    return script


def command(module: Path, env: dict[str, str], *extra: str, args: list[str] = BUILD) -> str:
    """A shell command line running kotasks' build (or ``args``) in ``module`` with ``env``."""
    assigned = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    argv = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "kotasks", *args, *extra])
    return f"cd {shlex.quote(str(module))} && env -i {assigned} {argv}"


class Tmux:
    """A tmux server of the test's own, with one wide window running a command."""

    def __init__(self, socket: Path, shell_command: str) -> None:
        self.base = ["tmux", "-S", str(socket)]
        # bash: after a Ctrl-C the command handles, it goes on to say the exit status
        line = f"{shell_command}; echo {DONE}$?; sleep 600"
        subprocess.run([*self.base, "-f", "/dev/null", "new-session", "-d", "-x", "250",
                        "-y", "80", f"bash -c {shlex.quote(line)}"], check=True)

    def wait_for(self, seen: list[str], *marks: str) -> list[str]:
        """Poll the screen until a line starts with one of ``marks``, keeping in ``seen``
        the view's lines on the way; return the last screen."""
        deadline = time.monotonic() + 300
        while True:
            screen = self.screen()
            if any(line.startswith(marks) for line in screen):
                return screen
            ended = any(line.startswith(DONE) for line in screen)
            assert not ended and time.monotonic() < deadline, "\n".join(screen)
            seen += [line for line in screen if "go builds" in line or line.startswith("  ")]
            time.sleep(0.05)

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", *keys], check=True)

    def cursor_shown(self) -> bool:
        shown = subprocess.run([*self.base, "display-message", "-p", "#{cursor_flag}"],
                               check=True, capture_output=True, text=True).stdout
        return shown.strip() == "1"

    def screen(self) -> list[str]:
        """The window's lines, its scrollback included, without the trailing blank ones."""
        shown = subprocess.run([*self.base, "capture-pane", "-p", "-J", "-S", "-"],
                               check=True, capture_output=True, text=True).stdout
        return shown.rstrip("\n").splitlines()

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], check=False, capture_output=True)


@pytest.mark.slow
def test_the_live_view_shows_while_a_build_runs_and_leaves_the_log_lines(
        tmp_path: Path, slow_proxy: FaultProxy) -> None:
    env = terminal_env({"KO_DOCKER_REPO": f"{slow_proxy.host}/live",
                        "KO_GO_PATH": str(slow_go(tmp_path))})
    tmux = Tmux(tmp_path / "tmux.sock",
                command(copy_module(EXAMPLES / "hello", tmp_path / "tty"), env))
    seen: list[str] = []
    try:
        screen = tmux.wait_for(seen, DONE)
        assert tmux.cursor_shown()
    finally:
        tmux.kill()
    assert screen[-1] == f"{DONE}0", "\n".join(screen)
    # while it ran: the steps counted (2 images for 2 platforms), the builds in flight named
    assert any(line.startswith("  building example.com/hello/cmd/") and " for linux/" in line
               for line in seen), seen
    counts = [line.split(" s · ", 1)[1] for line in seen if " s · go builds " in line]
    assert any(c.startswith(tuple(f"go builds {n}/4 · layers " for n in range(4)))
               and " · images " in c and c.endswith(" · published 0/2") for c in counts), seen
    assert any(re.match(r"  sent [\d.]+ (bytes|kB|MB) of [\d.]+ [kM]B · [\d.]+ (bytes|kB|MB)/s",
                        line)
               for line in seen), [line for line in seen if "sent" in line]
    # at the end: the view is gone, and the screen holds what a piped run prints
    piped = subprocess.run(
        ["sh", "-c", command(copy_module(EXAMPLES / "hello", tmp_path / "piped"), env)],
        capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0, piped.stderr
    assert "\x1b" not in piped.stderr and "go builds" not in piped.stderr
    final = [line for line in screen[:-1] if line.strip()]
    assert not [line for line in final if "go builds" in line or "  building" in line], final
    assert Counter(final) == Counter(piped.stderr.splitlines() + piped.stdout.splitlines())


@pytest.mark.slow
def test_kubectl_writes_its_lines_whole_with_the_view_away(
        tmp_path: Path, registry: Registry, kube_api: KubeAPI) -> None:
    env = terminal_env({**kube_api.env, "KO_DOCKER_REPO": f"{registry.host}/applied",
                        "KO_GO_PATH": str(slow_go(tmp_path))})
    tty, piped = (copy_module(FIXTURES / "local", tmp_path / name) for name in ("tty", "pipe"))
    apply = ["apply", "-f", "config/", "--", "-n"]
    tmux = Tmux(tmp_path / "tmux.sock",
                command(tty, env, args=[*apply, kube_api.new_namespace("tty")]))
    seen: list[str] = []
    try:
        screen = tmux.wait_for(seen, DONE)
    finally:
        tmux.kill()
    assert any(line.startswith("  building ") for line in seen)
    plain = subprocess.run(["sh", "-c", command(piped, env, args=[
        *apply, kube_api.new_namespace("pipe")])], capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr
    assert "deployment.apps/show created" in plain.stdout.splitlines()
    assert screen[-1] == f"{DONE}0", "\n".join(screen)
    final = [line for line in screen[:-1] if line.strip()]
    assert Counter(final) == Counter(plain.stderr.splitlines() + plain.stdout.splitlines())


@pytest.mark.slow
def test_an_interrupted_run_takes_the_view_away_and_gives_the_cursor_back(
        tmp_path: Path, registry: Registry) -> None:
    env = terminal_env({"KO_DOCKER_REPO": f"{registry.host}/stopped",
                        "KO_GO_PATH": str(slow_go(tmp_path, 60))})
    tmux = Tmux(tmp_path / "tmux.sock",
                command(copy_module(EXAMPLES / "hello", tmp_path / "tty"), env))
    seen: list[str] = []
    try:
        tmux.wait_for(seen, "  building ")
        assert not tmux.cursor_shown()  # rich hides it while the view is up
        tmux.keys("C-c")
        screen = tmux.wait_for(seen, DONE)
        assert tmux.cursor_shown()
    finally:
        tmux.kill()
    final = [line for line in screen if line.strip()]
    assert final[-2:] == ["kotasks: interrupted; finished steps were recorded", f"{DONE}130"], final
    assert not [line for line in final if "go builds" in line or "  building" in line], final


@pytest.mark.slow
@pytest.mark.parametrize("off", [{"CI": "true"}, {"KOTASKS_NO_PROGRESS": "1"}, {}],
                         ids=["CI=true", "KOTASKS_NO_PROGRESS", "--no-progress"])
def test_no_escape_codes_on_a_terminal_with_ci_or_no_progress(
        tmp_path: Path, registry: Registry, off: dict[str, str]) -> None:
    env = terminal_env({"KO_DOCKER_REPO": f"{registry.host}/plain", **off})
    module = copy_module(EXAMPLES / "hello", tmp_path / "hello")
    line = command(module, env, *([] if off else ["--no-progress"]))
    # script(1) runs it on a pseudo-terminal and copies all it wrote to stdout
    proc = subprocess.run(["script", "-q", "-e", "-c", line, "/dev/null"],
                          capture_output=True, timeout=300)
    output = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, output
    assert "Building example.com/hello/cmd/app for linux/arm64" in output
    assert "\x1b" not in output and "go builds" not in output


def test_the_view_is_wanted_only_on_a_terminal_outside_ci(tmp_path: Path) -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal, open(tmp_path / "file", "w") as file:
        assert progress.wanted(terminal, {})
        assert progress.wanted(terminal, {"CI": "false"})
        assert not progress.wanted(terminal, {"CI": "true"})
        assert not progress.wanted(terminal, {"KOTASKS_NO_PROGRESS": "1"})
        assert not progress.wanted(terminal, {"KOTASKS_QUIET": "1"})
        assert not progress.wanted(file, {})
    os.close(leader)
