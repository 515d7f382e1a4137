"""``--report FILE``: per image the reference, digests, tags, SBOMs, and each step with its
status and, when it ran, why; ``tasks(report=…)`` for doit users."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import push_base, write_base_layout
from tests.support.project import append, run_doit, run_kotasks
from tests.support.registry import Registry

pytestmark = pytest.mark.slow


def report_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def image(report: dict[str, Any], package: str) -> dict[str, Any]:
    [found] = [i for i in report["images"] if i["package"] == package]
    return found


def step(entry: dict[str, Any], prefix: str) -> dict[str, Any]:
    [found] = [s for s in entry["steps"] if s["task"].startswith(prefix)]
    return found


def test_the_report_says_what_was_published_and_why(hello: Path, registry: Registry,
                                                    tmp_path: Path) -> None:
    env = {"KO_DOCKER_REPO": f"{registry.host}/report"}
    path = tmp_path / "report.json"
    first = run_kotasks(hello, "build", "./cmd/app", "./cmd/worker", "--report", str(path),
                        env=env).ok()
    report = report_of(path)
    app = image(report, "example.com/hello/cmd/app")
    assert app["reference"] == first.refs[0] and app["status"] == "ran"
    assert app["tags"] == ["latest"] and app["digest"] == first.refs[0].split("@")[1]
    assert app["platforms"] == {"linux/amd64": app["digest"]}
    assert app["sboms"] == [{"subject": app["digest"], "digest": app["sboms"][0]["digest"],
                             "tag": app["digest"].replace(":", "-") + ".sbom"}]
    assert step(app, "gobuild:")["why"] == ["no record of an earlier run"]

    append(hello / "cmd/worker/main.go", "\nfunc init() { println(\"edited\") }\n")
    run_kotasks(hello, "build", "./cmd/app", "./cmd/worker", "--report", str(path),
                env=env).ok()
    report = report_of(path)
    app, worker = (image(report, f"example.com/hello/cmd/{n}") for n in ("app", "worker"))
    assert {s["status"] for s in app["steps"]} == {"up to date"}
    assert step(worker, "gobuild:")["why"] == ["file cmd/worker/main.go changed"]
    assert "its input gobuild:cmd/worker@linux/amd64 ran" in step(worker, "layer:")["why"]

    run_kotasks(hello, "build", "./cmd/worker", "--report", str(path), "--ldflags=-s",
                env={**env, "GOAMD64": "v2"}).ok()
    why = step(image(report_of(path), "example.com/hello/cmd/worker"), "gobuild:")["why"]
    assert "setting ldflags changed" in why and "setting env.GOAMD64 changed" in why


def test_a_new_base_digest_is_named(hello: Path, registry: Registry, tmp_path: Path) -> None:
    base = push_base(write_base_layout(tmp_path / "one"), registry.host, "report-base")
    (hello / ".ko.yaml").write_text(f"defaultBaseImage: {base}\n")
    env = {"KO_DOCKER_REPO": f"{registry.host}/report2", "KOTASKS_BASE_TTL": "0"}
    path = tmp_path / "report.json"
    run_kotasks(hello, "build", "./cmd/worker", "--report", str(path), env=env).ok()
    push_base(write_base_layout(tmp_path / "two", [{"os": "linux", "architecture": "amd64"}]),
              registry.host, "report-base")
    run_kotasks(hello, "build", "./cmd/worker", "--report", str(path), env=env).ok()
    worker = image(report_of(path), "example.com/hello/cmd/worker")
    assert f"base image {base} was resolved again" in step(worker, "image:")["why"]
    assert step(worker, "gobuild:")["status"] == "up to date"


def test_failures_are_in_the_report(hello: Path, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    (hello / "cmd/worker/main.go").write_text("package main\n\nfunc main() { nope() }\n")
    result = run_kotasks(hello, "build", "./cmd/app", "./cmd/worker", "--report", str(path))
    assert result.returncode == 1
    report = report_of(path)
    assert image(report, "example.com/hello/cmd/app")["status"] == "ran"
    worker = image(report, "example.com/hello/cmd/worker")
    assert worker["status"] == "failed" and step(worker, "gobuild:")["status"] == "failed"
    assert [f["task"] for f in report["failed"]] == ["gobuild:cmd/worker@linux/amd64"]


def test_doit_users_get_the_report_too(hello: Path, tmp_path: Path) -> None:
    path = tmp_path / "doit-report.json"
    (hello / "dodo.py").write_text("from kotasks import tasks\n\n"
                                   f"globals().update(tasks(report={str(path)!r}))\n")
    run_doit(hello, "build:cmd/worker").ok()
    worker = image(report_of(path), "example.com/hello/cmd/worker")
    assert worker["reference"].startswith(".kotasks/oci@sha256:")
