"""Bad input: one clear error line, a non-zero exit, and a next run that works after the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.project import Result, run_doit, run_kotasks
from tests.support.registry import Registry
from tests.support.runtime import free_port

pytestmark = pytest.mark.slow


def error_line(result: Result) -> str:
    """The single ``kotasks: error:`` line (or doit's ``ERROR:`` line) of a failed run."""
    assert result.returncode != 0, result.stderr
    lines = [line for line in result.stderr.splitlines()
             if line.startswith(("kotasks: error:", "ERROR:"))]
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_not_a_main_package(hello: Path) -> None:
    line = error_line(run_kotasks(hello, "build", "./internal/greeting"))
    assert "./internal/greeting" in line and "package greeting, not package main" in line
    run_kotasks(hello, "build", "./cmd/worker").ok()


def test_unknown_package(hello: Path) -> None:
    line = error_line(run_kotasks(hello, "build", "./cmd/nope"))
    assert "./cmd/nope: no Go package found" in line
    line = error_line(run_doit(hello, "build:cmd/nope"))
    assert '"build:cmd/nope"' in line
    (hello / "cmd/nope").mkdir()
    (hello / "cmd/nope/main.go").write_text("package main\n\nfunc main() {}\n")
    assert run_doit(hello, "build:cmd/nope").ok().refs


def test_docker_repo_with_a_tag(hello: Path, registry: Registry) -> None:
    line = error_line(run_kotasks(hello, "build", "./cmd/worker",
                                  env={"KO_DOCKER_REPO": f"{registry.host}/repo:v1"}))
    assert "KO_DOCKER_REPO" in line and "not a tagged reference" in line
    run_kotasks(hello, "build", "./cmd/worker",
                env={"KO_DOCKER_REPO": f"{registry.host}/repo"}).ok()


def test_unreachable_registry(hello: Path, registry: Registry) -> None:
    host = f"127.0.0.1:{free_port()}"
    line = error_line(run_kotasks(hello, "build", "./cmd/worker",
                                  env={"KO_DOCKER_REPO": f"{host}/x"}))
    assert f"{host}/x/worker-" in line and "cannot connect" in line
    run_kotasks(hello, "build", "./cmd/worker", env={"KO_DOCKER_REPO": f"{registry.host}/x"}).ok()


def test_malformed_base_reference(hello: Path) -> None:
    (hello / ".ko.yaml").write_text("defaultBaseImage: Not/A Ref\n")
    line = error_line(run_kotasks(hello, "build", "./cmd/worker"))
    assert ".ko.yaml" in line and "defaultBaseImage" in line and "'Not/A Ref'" in line
    (hello / ".ko.yaml").write_text("defaultBaseImage: scratch\n")
    run_kotasks(hello, "build", "./cmd/worker").ok()


def test_go_compile_error_is_shown_once_in_full(hello: Path) -> None:
    main = hello / "cmd/app/main.go"
    good = main.read_text()
    main.write_text(good.replace("log.Fatal(", "undefinedThing()\n\tlog.Fatal("))
    for result in (run_kotasks(hello, "build", "./cmd/app"), run_doit(hello, "build:cmd/app")):
        line = error_line(result)
        assert "go build example.com/hello/cmd/app for linux/amd64 failed" in line
        assert result.stderr.count("undefined: undefinedThing") == 1
        assert "main.go:" in result.stderr
    main.write_text(good)
    assert run_doit(hello, "build:cmd/app").ok().refs
