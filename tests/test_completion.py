"""``kotasks completion``: scripts generated from the argument parser, that complete verbs and
flags in a real interactive bash; and ``kotasks version`` / ``--help``."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kotasks import __version__
from tests.support.project import run_doit, run_kotasks

KOTASKS = Path(sys.executable).parent / "kotasks"


def read_until(fd: int, needle: bytes, timeout: float = 20) -> bytes:
    """Read a pty until ``needle`` shows (or fail, showing what did)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {needle!r} in {seen[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            seen += os.read(fd, 1 << 16)
    return seen


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_verbs_and_flags(tmp_path: Path) -> None:
    script = tmp_path / "kotasks.bash"
    script.write_text(run_kotasks(tmp_path, "completion", "bash").ok().stdout)
    master, slave = pty.openpty()
    env = {"PATH": f"{KOTASKS.parent}{os.pathsep}{os.environ['PATH']}", "TERM": "dumb",
           "HOME": str(tmp_path), "PS1": "$ "}
    bash = subprocess.Popen(["bash", "--norc", "--noprofile", "-i"], stdin=slave, stdout=slave,
                            stderr=slave, env=env, cwd=tmp_path, start_new_session=True)
    os.close(slave)
    try:
        os.write(master, f"source {script}; echo sourced\n".encode())
        read_until(master, b"sourced")
        os.write(master, b"kotasks bu\t")
        assert b"kotasks build " in read_until(master, b"build ")
        os.write(master, b"--plat\t")
        assert b"--platform" in read_until(master, b"--platform")
        os.write(master, b"\x15exit\n")  # Ctrl-U clears the line
        bash.wait(timeout=20)
    finally:
        if bash.poll() is None:
            bash.kill()
            bash.wait()
        os.close(master)


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_verb(shell: str, tmp_path: Path) -> None:
    script = run_kotasks(tmp_path, "completion", shell).ok().stdout
    for word in ("build", "resolve", "apply", "create", "delete", "run", "version",
                 "--platform", "--tag-only", "--oci-archive", "--watch"):
        # fish spells a long option `-l tag-only`
        assert (word if shell == "zsh" else word.removeprefix("--")) in script, word


def test_powershell_script_names_every_verb_and_its_flags(tmp_path: Path) -> None:
    script = run_kotasks(tmp_path, "completion", "powershell").ok().stdout
    assert "Register-ArgumentCompleter -Native -CommandName 'kotasks'" in script
    verbs = script.split("$verbs = @{", 1)[1].split("}", 1)[0]
    for verb in ("build", "publish", "resolve", "apply", "create", "delete", "run", "login",
                 "logout", "completion", "version"):
        assert f"        '{verb}' = '" in verbs, verb
    assert "'publish' = 'build and publish images" in verbs
    build = script.split("'build' = @{", 1)[1].split("}", 1)[0]
    for flag in ("--platform", "--tag-only", "--oci-archive", "--watch", "--sbom"):
        assert f"'{flag}' = '" in build, flag
    assert "'--filename' = '" in script.split("'apply' = @{", 1)[1].split("}", 1)[0]
    assert "'print kotasks'' version'" in verbs  # quotes doubled, as PowerShell wants


def test_version_and_help(tmp_path: Path) -> None:
    assert run_kotasks(tmp_path, "version").ok().stdout == f"{__version__}\n"
    helped = subprocess.run([sys.executable, "-m", "kotasks", "--help"], capture_output=True,
                            text=True, check=True).stdout
    for verb in ("build", "resolve", "apply", "create", "delete", "run", "completion",
                 "version"):
        assert f"    {verb} " in helped or f"    {verb}\n" in helped, verb


def test_doits_own_tabcompletion_still_names_the_tasks(hello: Path) -> None:
    script = run_doit(hello, "tabcompletion", "--shell", "bash", "--hardcode-tasks").ok().stdout
    assert "build:cmd/app" in script and "build:cmd/worker" in script
