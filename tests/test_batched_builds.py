"""Batched ``go build``: the binaries a run must rebuild share one Go process per platform
and settings, while every binary keeps its own task, file, up-to-date state and cut-off."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from kotasks.gobuild.batch import go_output_name, split_batches
from kotasks.gobuild.build import BuildRequest
from kotasks.oci.descriptor import Platform
from tests.support.project import append, build_env, md5, run_doit, run_kotasks
from tests.support.registry import Registry
from tests.support.workspace import LIBRARY, counting_go, go_builds, write_workspace

AMD64 = "linux/amd64"


def apps(n: int) -> list[str]:
    return [f"example.com/bench/cmd/app{i}" for i in range(n)]


def binary(root: Path, i: int, platform: str = "linux-amd64") -> Path:
    return root / ".kotasks/bin" / f"cmd/app{i}" / platform / f"app{i}"


def request(import_path: str, platform: str = AMD64, ldflags: tuple[str, ...] = ()
            ) -> BuildRequest:
    return BuildRequest(import_path, ".", Platform(*platform.split("/")), {"CGO_ENABLED": "0"},
                        ldflags=ldflags)


def test_go_names_outputs_by_the_last_element_without_a_major_version() -> None:
    assert go_output_name("example.com/cmd/app", "linux") == "app"
    assert go_output_name("example.com/cmd/app/v2", "linux") == "app"
    assert go_output_name("example.com/cmd/v1", "linux") == "v1"
    assert go_output_name("example.com/cmd/app", "windows") == "app.exe"


def test_batches_split_by_settings_and_by_output_name() -> None:
    requests = [request("a.com/x/app"), request("a.com/y/app"), request("a.com/z/tool"),
                request("a.com/w/cli", "linux/arm64"), request("a.com/v/srv", ldflags=("-s",)),
                request("a.com/u/more")]
    # two "app" cannot share a directory; arm64 and other ldflags are processes of their own
    assert split_batches(requests) == [[0, 2, 5], [1], [3], [4]]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws", serve=False)


@pytest.fixture
def go(tmp_path: Path) -> tuple[Path, Path]:
    return counting_go(tmp_path)


@pytest.mark.slow
def test_library_edit_rebuilds_ten_binaries_in_one_go_process(
        workspace: Path, go: tuple[Path, Path], registry: Registry, tmp_path: Path) -> None:
    wrapper, log = go
    env = {"KO_DOCKER_REPO": f"{registry.host}/batched", "KO_GO_PATH": str(wrapper)}
    cold = run_doit(workspace, env=env).ok()
    assert len(cold.refs) == 10
    assert go_builds(log) == [(AMD64, apps(10))]

    # a comment moves no line: ten binaries are built in one process, none changed, so
    # nothing after them runs and nothing is sent
    log.unlink()
    append(workspace / LIBRARY, "\n// a comment at the end moves no line\n")
    mark = registry.mark()
    comment = run_doit(workspace, env=env).ok()
    assert go_builds(log) == [(AMD64, apps(10))]
    assert sorted(comment.executed) == sorted(f"gobuild:cmd/app{i}@{AMD64}" for i in range(10))
    assert registry.requests_since(mark) == []
    assert comment.refs == cold.refs

    # a real edit: one process again, and each binary is the one a build of its own gives
    log.unlink()
    lib = workspace / LIBRARY
    lib.write_text(lib.read_text().replace('"!"', '"!!"'))
    edited = run_doit(workspace, env=env).ok()
    assert go_builds(log) == [(AMD64, apps(10))]
    assert len(edited.ran("build:")) == 10 and set(edited.refs).isdisjoint(cold.refs)
    go_env = {**build_env(), "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64"}
    for i, package in enumerate(apps(10)):
        alone = tmp_path / f"alone-app{i}"
        subprocess.run(["go", "build", "-trimpath", "-o", str(alone), package], cwd=workspace,
                       env=go_env, check=True)
        assert binary(workspace, i).read_bytes() == alone.read_bytes(), package
    assert not [p for p in (workspace / ".kotasks/bin").iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_one_image_builds_only_its_own_binary(workspace: Path, go: tuple[Path, Path]) -> None:
    wrapper, log = go
    env = {"KO_GO_PATH": str(wrapper)}
    run_doit(workspace, env=env).ok()
    log.unlink()
    lib = workspace / LIBRARY
    lib.write_text(lib.read_text().replace('"!"', '"?"'))
    one = run_doit(workspace, "build:cmd/app4", env=env).ok()
    assert go_builds(log) == [(AMD64, ["example.com/bench/cmd/app4"])]
    assert one.ran("gobuild:") == [f"gobuild:cmd/app4@{AMD64}"]


@pytest.mark.slow
def test_compile_error_fails_its_image_and_the_others_publish(
        workspace: Path, go: tuple[Path, Path], registry: Registry) -> None:
    wrapper, log = go
    env = {"KO_DOCKER_REPO": f"{registry.host}/batched-error", "KO_GO_PATH": str(wrapper)}
    run_kotasks(workspace, "build", "./cmd/app1", "./cmd/app2", env=env).ok()
    log.unlink()
    good, bad = workspace / "cmd/app1/main.go", workspace / "cmd/app2/main.go"
    good.write_text(good.read_text().replace('Shout("app1")', 'Shout("app one")'))
    bad.write_text(bad.read_text().replace('Shout("app2")', "Shout(2)"))
    result = run_kotasks(workspace, "build", "./cmd/app1", "./cmd/app2", env=env)
    assert result.returncode == 1
    assert "cmd/app2/main.go:10:24: cannot use 2 (untyped int constant) as string value" \
        in result.stderr
    assert "cmd/app1/main.go" not in result.stderr
    assert [ref.split("@")[0] for ref in result.refs] == [
        f"{registry.host}/batched-error/app1-{md5(apps(2)[1])}"]
    assert result.stderr.rstrip().splitlines()[-2:] == [
        "kotasks: 1 published, 1 failed",
        "kotasks:   gobuild:cmd/app2@linux/amd64: go build example.com/bench/cmd/app2 for "
        "linux/amd64 failed"]
    # the batch, then the failed package alone for its own message
    assert go_builds(log) == [(AMD64, apps(3)[1:]), (AMD64, ["example.com/bench/cmd/app2"])]


@pytest.mark.slow
def test_batches_split_exactly_where_rendered_ldflags_differ(
        workspace: Path, go: tuple[Path, Path], tmp_path: Path) -> None:
    wrapper, log = go
    (workspace / ".ko.yaml").write_text("""defaultBaseImage: scratch
builds:
- id: app0
  main: ./cmd/app0
  ldflags: ["-X main.name={{.Env.NAME_A}}"]
- id: app1
  main: ./cmd/app1
  ldflags: ["-X main.name={{.Env.NAME_B}}"]
- id: app2
  main: ./cmd/app2
  ldflags: ["-X main.name={{.Env.NAME_C}}"]
""")
    report = tmp_path / "report.json"
    env = {"KO_GO_PATH": str(wrapper), "NAME_A": "same", "NAME_B": "same", "NAME_C": "other"}
    run_kotasks(workspace, "build", f"--report={report}",
                *[f"./cmd/app{i}" for i in range(5)], env=env).ok()
    assert sorted(packages for _, packages in go_builds(log)) == sorted([
        apps(2), ["example.com/bench/cmd/app2"], apps(5)[3:]])
    steps = {step["task"]: step for image in json.loads(report.read_text())["images"]
             for step in image["steps"]}
    assert steps[f"gobuild:cmd/app0@{AMD64}"]["batch"] == [f"gobuild:cmd/app{i}@{AMD64}"
                                                           for i in (0, 1)]
    assert steps[f"gobuild:cmd/app3@{AMD64}"]["batch"] == [f"gobuild:cmd/app{i}@{AMD64}"
                                                           for i in (3, 4)]
    assert "batch" not in steps[f"gobuild:cmd/app2@{AMD64}"]
    assert steps[f"gobuild:cmd/app0@{AMD64}"]["why"] == ["no record of an earlier run"]


@pytest.mark.slow
def test_one_go_process_per_platform(workspace: Path, go: tuple[Path, Path]) -> None:
    wrapper, log = go
    env = {"KO_GO_PATH": str(wrapper)}
    images = [f"./cmd/app{i}" for i in range(3)]
    run_kotasks(workspace, "build", "--platform=linux/amd64,linux/arm64", *images,
                env=env).ok()
    assert sorted(go_builds(log)) == [(AMD64, apps(3)), ("linux/arm64", apps(3))]
    assert "ARM aarch64" in subprocess.run(["file", "-b", str(binary(workspace, 2,
                                                                      "linux-arm64"))],
                                           capture_output=True, text=True).stdout


@pytest.mark.slow
def test_go_gets_a_share_of_the_cores_not_one_per_job(workspace: Path,
                                                      go: tuple[Path, Path]) -> None:
    wrapper, log = go
    run_kotasks(workspace, "build", "-j", "8", "--platform=linux/amd64,linux/arm64,linux/386",
                "./cmd/app0", "./cmd/app1", env={"KO_GO_PATH": str(wrapper)}).ok()
    cores = len(os.sched_getaffinity(0))
    flags = [argv.split()[1] for argv in (line.split("\t")[1] for line in
                                          log.read_text().splitlines())
             if argv.startswith("build ")]
    assert len(flags) == 3
    assert flags == [f"-p={max(1, cores // 3)}"] * 3
