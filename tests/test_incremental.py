"""doit's memory between runs: only what a change affects runs again, and nothing else."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.project import append, run_doit
from tests.support.registry import Registry

pytestmark = pytest.mark.slow

GREETING = "internal/greeting/greeting.go"


@pytest.fixture
def built(hello: Path, registry: Registry) -> tuple[Path, dict[str, str]]:
    """The example, built and pushed once."""
    env = {"KO_DOCKER_REPO": f"{registry.host}/incremental"}
    first = run_doit(hello, env=env).ok()
    assert {"gobuild:cmd/app@linux/amd64", "gobuild:cmd/worker@linux/amd64",
            "build:cmd/app", "build:cmd/worker"} <= set(first.executed)
    return hello, env


def test_no_change_runs_nothing_and_sends_no_request(built: tuple[Path, dict[str, str]],
                                                     registry: Registry) -> None:
    hello, env = built
    before = run_doit(hello, env=env).ok()
    mark = registry.mark()
    again = run_doit(hello, env=env).ok()
    assert again.executed == []
    assert registry.requests_since(mark) == []
    assert again.refs == before.refs and len(again.refs) == 2


def test_comment_in_shared_package_runs_go_build_and_stops(
        built: tuple[Path, dict[str, str]], registry: Registry) -> None:
    hello, env = built
    append(hello / GREETING, "\n// a comment at the end moves no line\n")
    mark = registry.mark()
    result = run_doit(hello, env=env).ok()
    assert sorted(result.executed) == ["gobuild:cmd/app@linux/amd64",
                                       "gobuild:cmd/worker@linux/amd64"]
    assert registry.requests_since(mark) == []


def test_real_edit_in_shared_package_rebuilds_both_apps(
        built: tuple[Path, dict[str, str]]) -> None:
    hello, env = built
    path = hello / GREETING
    path.write_text(path.read_text().replace("hello from %s", "hi from %s"))
    result = run_doit(hello, env=env).ok()
    for app in ("cmd/app", "cmd/worker"):
        assert {f"gobuild:{app}@linux/amd64", f"layer:{app}@linux/amd64",
                f"image:{app}@linux/amd64", f"build:{app}"} <= set(result.executed)
    assert not result.ran("kodata:")


def test_edit_in_worker_rebuilds_only_worker(built: tuple[Path, dict[str, str]]) -> None:
    hello, env = built
    path = hello / "cmd/worker/main.go"
    path.write_text(path.read_text().replace('greeting.For("worker")', 'greeting.For("w")'))
    result = run_doit(hello, env=env).ok()
    assert sorted(result.executed) == ["build:cmd/worker", "gobuild:cmd/worker@linux/amd64",
                                       "image:cmd/worker@linux/amd64",
                                       "layer:cmd/worker@linux/amd64",
                                       "sbom:cmd/worker@linux/amd64"]


def test_new_go_file_rebuilds_its_package(built: tuple[Path, dict[str, str]]) -> None:
    hello, env = built
    (hello / "cmd/worker/extra.go").write_text(
        'package main\n\nimport "log"\n\nfunc init() { log.Print("extra") }\n')
    result = run_doit(hello, env=env).ok()
    assert "gobuild:cmd/worker@linux/amd64" in result.executed
    assert "build:cmd/worker" in result.executed
    assert not result.ran("gobuild:cmd/app")


def test_kodata_edit_rebuilds_only_the_kodata_layer_and_image(
        built: tuple[Path, dict[str, str]]) -> None:
    hello, env = built
    append(hello / "cmd/app/kodata/index.html", "<p>more</p>\n")
    result = run_doit(hello, env=env).ok()
    assert sorted(result.executed) == ["build:cmd/app", "image:cmd/app@linux/amd64",
                                       "kodata:cmd/app", "sbom:cmd/app@linux/amd64"]


def test_touch_without_change_runs_nothing(built: tuple[Path, dict[str, str]]) -> None:
    hello, env = built
    for path in hello.rglob("*.go"):
        path.touch()
    result = run_doit(hello, env=env).ok()
    assert result.executed == []


def test_doit_list_shows_one_build_task_per_main_package(hello: Path) -> None:
    listed = run_doit(hello, "list").ok().stdout.split("\n")
    names = [line.split()[0] for line in listed if line.strip()]
    assert names == ["apply", "build", "build:cmd/app", "build:cmd/worker", "lock", "resolve"]
    everything = run_doit(hello, "list", "--all").ok().stdout
    assert "gobuild:cmd/app@linux/amd64" in everything and "base:scratch" in everything


def test_a_commit_rebuilds_with_the_new_vcs_stamp(hello: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t",
                        *args], cwd=hello, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    (hello / ".gitignore").write_text(".kotasks/\n")
    git("add", "-A")
    git("commit", "-qm", "one")
    first = run_doit(hello, "build:cmd/worker").ok()
    assert run_doit(hello, "build:cmd/worker").ok().executed == []
    git("commit", "-q", "--allow-empty", "-m", "two")
    second = run_doit(hello, "build:cmd/worker").ok()
    assert "gobuild:cmd/worker@linux/amd64" in second.executed
    assert second.refs != first.refs  # vcs.revision is part of the binary
