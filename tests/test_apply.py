"""apply, create, delete and run against a real kube-apiserver, and ``doit apply``: files are
applied when they or the images they name changed, or the cluster did; never otherwise."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.kubeapi import KubeAPI
from tests.support.project import (
    Result,
    append,
    build_env,
    md5,
    run_doit,
    run_kotasks,
    stderr_lines,
    wait_for_line,
)
from tests.support.registry import Registry

pytestmark = pytest.mark.slow

SHOW = "example.com/local/cmd/show"
OTHER = "example.com/local/cmd/other"




@pytest.fixture
def counted(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A kubectl wrapper first on PATH that logs each invocation, and the env using it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "kubectl.log"
    real = subprocess.run(["sh", "-c", "command -v kubectl"], capture_output=True,
                          text=True, check=True).stdout.strip()
    wrapper = bin_dir / "kubectl"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    return log, {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def image_of(api: KubeAPI, name: str, namespace: str) -> str:
    deployment = api.get_json("deployment", name, namespace)
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def env_for(api: KubeAPI, registry: Registry, **extra: str) -> dict[str, str]:
    return {**api.env, "KO_DOCKER_REPO": f"{registry.host}/apply", **extra}


def test_apply_resolves_then_applies_each_file(local: Path, kube_api: KubeAPI,
                                               registry: Registry) -> None:
    ns = kube_api.new_namespace("apply")
    result = run_kotasks(local, "apply", "-f", "config/", "--", "-n", ns,
                         env=env_for(kube_api, registry)).ok()
    assert "deployment.apps/other created" in result.stdout
    assert "deployment.apps/show created" in result.stdout
    for name, path in (("show", SHOW), ("other", OTHER)):
        assert re.fullmatch(rf"{re.escape(registry.host)}/apply/{name}-{md5(path)}@sha256:"
                            r"[0-9a-f]{64}", image_of(kube_api, name, ns))


def test_a_no_op_doit_apply_runs_no_kubectl(local: Path, kube_api: KubeAPI, registry: Registry,
                                            counted: tuple[Path, dict[str, str]]) -> None:
    log, path = counted
    ns = kube_api.new_namespace("noop")
    (local / "dodo.py").write_text("from kotasks import tasks\n\n"
                                   f"globals().update(tasks(kubectl_args=['-n', {ns!r}]))\n")
    env = env_for(kube_api, registry, **path)
    run_doit(local, "apply", env=env).ok()
    assert len(calls(log)) == 2
    again = run_doit(local, "apply", env=env).ok()
    assert again.executed == [] and len(calls(log)) == 2
    append(local / "cmd/other/main.go", "\nfunc init() { println(\"edited\") }\n")
    before = image_of(kube_api, "show", ns), image_of(kube_api, "other", ns)
    edited = run_doit(local, "apply", env=env).ok()
    assert [t for t in edited.executed if t.startswith("apply:")] == ["apply:config/other.yaml"]
    assert len(calls(log)) == 3 and calls(log)[-1].startswith("apply -f -")
    assert image_of(kube_api, "show", ns) == before[0]
    assert image_of(kube_api, "other", ns) != before[1]


def test_switching_context_applies_everything_again(local: Path, kube_api: KubeAPI,
                                                    registry: Registry, tmp_path: Path) -> None:
    ns = kube_api.new_namespace("switch")
    env = env_for(kube_api, registry)
    args = ("apply", "-f", "config", "--", "-n", ns)
    run_kotasks(local, *args, env=env).ok()
    assert run_kotasks(local, *args, env=env).ok().executed == []
    other = kube_api.write_kubeconfig(tmp_path / "other-kubeconfig", context="second")
    switched = run_kotasks(local, *args, env={**env, "KUBECONFIG": str(other)}).ok()
    assert sorted(t for t in switched.executed if t.startswith("apply:")) == \
        ["apply:config/other.yaml", "apply:config/show.yaml"]
    forced = run_kotasks(local, *args, "--force", env={**env, "KUBECONFIG": str(other)}).ok()
    assert "apply:config/show.yaml" in forced.executed


def test_create_then_delete(local: Path, kube_api: KubeAPI, registry: Registry) -> None:
    ns = kube_api.new_namespace("create")
    env = env_for(kube_api, registry)
    created = run_kotasks(local, "create", "-f", "config/show.yaml", "--", "-n", ns, env=env)
    assert "deployment.apps/show created" in created.ok().stdout
    assert image_of(kube_api, "show", ns).startswith(f"{registry.host}/apply/show-")
    again = run_kotasks(local, "create", "-f", "config/show.yaml", "--", "-n", ns, env=env)
    assert again.returncode == 1 and "AlreadyExists" in again.stderr + again.stdout
    deleted = run_kotasks(local, "delete", "-f", "config/show.yaml", "-n", ns, env=env)
    assert "deleted" in deleted.ok().stdout
    gone = kube_api.kubectl("get", "deployment", "show", namespace=ns, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_run_creates_the_pod_kubectl_would(local: Path, kube_api: KubeAPI, registry: Registry,
                                           counted: tuple[Path, dict[str, str]]) -> None:
    log, path = counted
    ns = kube_api.new_namespace("run")
    # flags before the import path (ko insists on the path first)
    proc = subprocess.Popen([sys.executable, "-m", "kotasks", "run", "--platform=linux/amd64",
                             "./cmd/show", "--", "-n", ns, "--pod-running-timeout=60s"],
                            cwd=local, env=build_env(env_for(kube_api, registry, **path)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    name = f"show-{md5(SHOW)}"
    try:
        # no kubelet runs, so the Pod stays Pending while kubectl waits to attach: read it then
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            got = kube_api.kubectl("get", "pod", name, "-o", "json", namespace=ns, check=False)
            if got.returncode == 0:
                break
            assert proc.poll() is None, "kotasks run ended before the Pod was created"
            time.sleep(0.2)
        pod = kube_api.get_json("pod", name, ns)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert pod["spec"]["restartPolicy"] == "Never"
    image = pod["spec"]["containers"][0]["image"]
    assert re.fullmatch(rf"{re.escape(registry.host)}/apply/{name}@sha256:[0-9a-f]{{64}}", image)
    [run] = [c for c in calls(log) if c.startswith("run ")]
    assert run == (f"run {name} --image {image} --attach --rm --restart=Never "
                   f"--log-flush-frequency=1s -n {ns} --pod-running-timeout=60s")
    kube_api.kubectl("delete", "pod", name, namespace=ns)


def error_line(result: Result) -> str:
    assert result.returncode != 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("kotasks: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_bad_input(local: Path, kube_api: KubeAPI, registry: Registry, tmp_path: Path,
                   counted: tuple[Path, dict[str, str]]) -> None:
    log, path = counted
    env = env_for(kube_api, registry, **path)
    missing = run_kotasks(local, "apply", env=env)
    assert missing.returncode == 2 and "-f/--filename" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                   "  - name: c\n    image: ko://example.com/local/internal/nothing\n")
    (local / "internal/nothing").mkdir(parents=True)
    (local / "internal/nothing/lib.go").write_text("package nothing\n")
    line = error_line(run_kotasks(local, "apply", "-f", str(bad), env=env))
    assert f"{bad}:7:" in line and "not package main" in line
    assert calls(log) == []
    assert "run" in error_line(run_kotasks(local, "run", env=env))
    unreachable = tmp_path / "unreachable"
    kube_api.write_kubeconfig(unreachable, context="gone")
    unreachable.write_text(unreachable.read_text().replace(kube_api.server,
                                                           "https://127.0.0.1:1"))
    result = run_kotasks(local, "apply", "-f", "config/show.yaml",
                         env={**env, "KUBECONFIG": str(unreachable)})
    assert result.returncode != 0 and "127.0.0.1:1" in result.stderr
    no_kubectl = run_kotasks(local, "apply", "-f", "config", env={**env, "PATH": "/usr/bin/nope"})
    assert "kubectl is not on PATH" in error_line(no_kubectl) and no_kubectl.executed == []


def test_watch_applies_an_edit_and_stops_on_sigint(local: Path, kube_api: KubeAPI,
                                                   registry: Registry) -> None:
    ns = kube_api.new_namespace("watch")
    proc = subprocess.Popen([sys.executable, "-m", "kotasks", "apply", "-f", "config",
                             "--watch", "--", "-n", ns], cwd=local, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=build_env(env_for(kube_api, registry)))
    lines = stderr_lines(proc)
    try:
        first = wait_for_line(lines, "round 1")
        assert "applied" in first and "config/show.yaml" in first
        before = image_of(kube_api, "show", ns)
        append(local / "cmd/show/main.go", "\nfunc init() { println(\"edited\") }\n")
        second = wait_for_line(lines, "round 2")
        assert "cmd/show/main.go changed" in second and "built cmd/show" in second
        assert "applied config/show.yaml" in second and "other" not in second.split("applied")[1]
        assert image_of(kube_api, "show", ns) != before
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        proc.wait(timeout=5)
        assert time.monotonic() - started < 1.0
        assert proc.returncode == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
