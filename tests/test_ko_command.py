"""The ``ko`` command, as kbld, Tilt's ko extension and Skaffold call it: the same program as
``kotasks``, read by its stdout; and ``source <(ko completion)``, ko's README's own line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.project import build_env, md5
from tests.support.registry import Registry

KO = Path(sys.executable).parent / "ko"


def test_the_ko_command_is_installed_beside_kotasks() -> None:
    assert KO.is_file() and os.access(KO, os.X_OK), "pip install -e . makes it"


@pytest.mark.slow
def test_a_tool_reads_the_reference_ko_build_prints(hello: Path, registry: Registry) -> None:
    # what a Tilt-style custom build runs: the reference is the one line on stdout
    script = 'set -e\nref=$(ko build --sbom=none ./cmd/app)\necho "built=$ref"\n'
    env = build_env({"KO_DOCKER_REPO": f"{registry.host}/tilt",
                     "PATH": f"{KO.parent}{os.pathsep}{os.environ['PATH']}"})
    done = subprocess.run(["bash", "-c", script], cwd=hello, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    name = f"{registry.host}/tilt/app-{md5('example.com/hello/cmd/app')}"
    assert re.fullmatch(rf"built={re.escape(name)}@sha256:[0-9a-f]{{64}}\n", done.stdout)


def test_source_ko_completion_as_the_readme_says(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{KO.parent}{os.pathsep}{os.environ['PATH']}",
           "HOME": str(tmp_path)}
    done = subprocess.run(["bash", "-c", "source <(ko completion) && complete -p ko"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(" ko")


def test_completion_help_says_how_to_load_it(tmp_path: Path) -> None:
    done = subprocess.run([str(KO), "completion", "zsh", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    assert "source <(kotasks completion zsh)" in done.stdout
    assert "Invoke-Expression" in done.stdout

