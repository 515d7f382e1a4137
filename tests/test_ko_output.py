"""The ``kotasks`` verbs print ko's log lines: doit's step lines only with ``-v``, one line
for a run that did nothing, and for a build the same lines as ko v0.19.1 (side by side)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.support.dockerd import Dockerd
from tests.support.images import push_base, write_base_layout
from tests.support.kolog import ko_binary, log_lines
from tests.support.project import EXAMPLES, build_env, copy_module, run_kotasks
from tests.support.registry import Registry

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


GIT_WARNING = "current folder is not a git repository. Git info will not be available"
PLATFORMS = "linux/amd64,linux/arm64"


def _hello_per_tool(tmp_path: Path, base: str, *args: str) -> dict[str, tuple[Path, list[str]]]:
    """The hello module on ``base`` twice, for ko and for kotasks, each with its command
    (``<tool> ARGS``)."""
    tools = {}
    for tool, argv in (("ko", [ko_binary()]), ("kotasks", [sys.executable, "-m", "kotasks"])):
        module = copy_module(EXAMPLES / "hello", tmp_path / tool)
        (module / ".ko.yaml").write_text(f"defaultBaseImage: {base}\n")
        tools[tool] = module, [*argv, *args]
    return tools


def _run(tool: tuple[Path, list[str]], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a tool's command in its module (a failure fails the test)."""
    module, argv = tool
    proc = subprocess.run(argv, cwd=module, env=build_env(env), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


def _two_tools(tmp_path: Path, registry: Registry) -> dict[str, tuple[Path, list[str]]]:
    """The hello module for each tool on one two-platform base, building its two images
    for two platforms."""
    base = push_base(write_base_layout(tmp_path / "base", platforms=[
        {"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64"}]),
        registry.host, "ko-lines-base")
    return _hello_per_tool(tmp_path, base, "build", "./cmd/app", "./cmd/worker",
                           f"--platform={PLATFORMS}")


def _lines(tool: tuple[Path, list[str]], registry: Registry, tmp_path: Path) -> list[str]:
    proc = _run(tool, {"KO_DOCKER_REPO": f"{registry.host}/lines",
                       "KOCACHE": str(tmp_path / "kocache")})
    assert len(proc.stdout.splitlines()) == 2 and "@sha256:" in proc.stdout  # refs only
    return log_lines(proc.stderr)


def _about(line: str, name: str) -> bool:
    """Whether a line is about image ``name`` (its import path or its repository)."""
    return f"cmd/{name}" in line or f"/{name}-" in line


def _of_app(lines: list[str]) -> list[str]:
    """The lines about the app image (and one git warning per build of it)."""
    own = [line for line in lines if _about(line, "app")]
    return own + [GIT_WARNING] * sum(line.startswith("Building ") for line in own)


def _assert_ko_order(lines: list[str], name: str) -> None:
    """Per image, ko's order: its builds, then Publishing, its SBOMs, Published."""
    at = {kind: [i for i, line in enumerate(lines) if line.startswith(kind)
                 and _about(line, name)]
          for kind in ("Building ", "Publishing ", "Published SBOM ", "Published ")}
    published = [i for i in at["Published "] if i not in at["Published SBOM "]]
    assert len(at["Building "]) == 2 and len(at["Publishing "]) == 1 and len(published) == 1
    assert len(at["Published SBOM "]) == 3  # the index's and each platform's
    assert max(at["Building "]) < at["Publishing "][0] < min(at["Published SBOM "]) \
        and max(at["Published SBOM "]) < published[0], lines


def test_the_lines_are_kos_for_a_cold_build_an_edit_and_a_no_op(tmp_path: Path,
                                                                 registry: Registry) -> None:
    tools = _two_tools(tmp_path, registry)
    ko_cold, ours_cold = (_lines(tools[t], registry, tmp_path) for t in ("ko", "kotasks"))
    assert Counter(ours_cold) == Counter(ko_cold), (ko_cold, ours_cold)
    assert all(not line.startswith((".  ", "-- ")) for line in ours_cold)
    for lines in (ko_cold, ours_cold):
        for name in ("app", "worker"):
            _assert_ko_order(lines, name)
    for module, _ in tools.values():
        main_go = module / "cmd/app/main.go"
        main_go.write_text(main_go.read_text().replace('"%s: serving', '"%s: now serving'))
    ko_edit, ours_edit = (_lines(tools[t], registry, tmp_path) for t in ("ko", "kotasks"))
    assert Counter(ko_edit) == Counter(ko_cold)  # ko does it all again
    assert Counter(ours_edit) == Counter(_of_app(ko_edit)), (ko_edit, ours_edit)
    ko_idle, ours_idle = (_lines(tools[t], registry, tmp_path) for t in ("ko", "kotasks"))
    assert Counter(ko_idle) == Counter(ko_cold)
    assert ours_idle == ["kotasks: nothing to do (2 images up to date)"]


@pytest.mark.parametrize("flags", [["--local", "-t", "latest,v1"], ["-t", "a,b"],
                                   ["--push=false", "--tarball", "images.tar"],
                                   ["--push=false", "--sbom-dir", "sboms"]],
                         ids=["daemon", "two-tags", "tarball", "sbom-dir"])
def test_the_lines_are_kos_for_each_publisher(tmp_path: Path, registry: Registry,
                                              dockerd: Dockerd, flags: list[str]) -> None:
    base = push_base(write_base_layout(tmp_path / "base"), registry.host, "ko-lines-one")
    env = {"KO_DOCKER_REPO": f"{registry.host}/each", "KOCACHE": str(tmp_path / "kocache"),
           **dockerd.env}
    lines = {tool: log_lines(_run(command, env).stderr) for tool, command in
             _hello_per_tool(tmp_path, base, "build", "./cmd/app", *flags).items()}
    assert Counter(lines["kotasks"]) == Counter(lines["ko"]), lines
