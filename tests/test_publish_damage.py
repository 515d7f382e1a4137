"""Damaged and interrupted state: a corrupt blob in the store, a truncated state file, two
runs at once, and a run killed mid-push; the next run is always correct and re-sends
nothing the registry already has."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kotasks.oci.layout import Layout
from kotasks.oci.manifest import parse_manifest
from tests.support.faultproxy import Fault, FaultProxy, start_fault_proxy
from tests.support.images import skopeo_copy
from tests.support.project import build_env, run_kotasks
from tests.support.registry import Registry

pytestmark = pytest.mark.slow

UPLOAD = re.compile(r"^PUT /v2/.+/blobs/uploads/.*[?&]digest=sha256%3A([0-9a-f]{64})")


@pytest.fixture
def proxy(registry: Registry) -> Iterator[FaultProxy]:
    started = start_fault_proxy(registry.host)
    yield started
    started.stop()


def uploads(proxy: FaultProxy, since: int = 0) -> list[str]:
    """The digests of the blob uploads the proxy saw (hex)."""
    return [m.group(1) for line, _ in proxy.log[since:] if (m := UPLOAD.match(line))]


def read_back(ref: str, proxy: FaultProxy, registry: Registry, dest: Path) -> None:
    skopeo_copy(f"docker://{ref.replace(proxy.host, registry.host)}", f"oci:{dest}:latest")


def test_a_corrupt_blob_is_caught_before_it_is_sent_and_rebuilt(hello: Path, proxy: FaultProxy,
                                                    registry: Registry, tmp_path: Path) -> None:
    [ref] = run_kotasks(hello, "build", "./cmd/worker",
                        env={"KO_DOCKER_REPO": f"{proxy.host}/first"}).ok().refs
    layout = Layout(hello / ".kotasks/oci")
    layer = parse_manifest(layout.read(ref.split("@")[1])).layers[-1].digest
    blob = layout.blob_path(layer)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    mark = len(proxy.log)
    env = {"KO_DOCKER_REPO": f"{proxy.host}/second"}
    result = run_kotasks(hello, "build", "./cmd/worker", env=env).ok()
    assert f"blob {layer}" in result.stderr and "does not match its digest" in result.stderr
    assert "rebuilding" in result.stderr
    assert "layer:cmd/worker@linux/amd64" in result.executed  # made again, in the same run
    assert result.refs == [ref.replace("/first/", "/second/")]  # the same image, once
    assert uploads(proxy, mark).count(layer.split(":")[1]) == 1  # sent once, rebuilt
    assert layout.blob_path(layer).read_bytes() != bytes(data)
    read_back(result.refs[0], proxy, registry, tmp_path / "copy")


def test_a_truncated_or_deleted_state_file_means_a_correct_rebuild(hello: Path,
                                                                   registry: Registry) -> None:
    env = {"KO_DOCKER_REPO": f"{registry.host}/truncated"}
    first = run_kotasks(hello, "build", "./cmd/app", env=env).ok()
    state = hello / ".kotasks/state.sqlite3"
    with open(state, "r+b") as f:
        f.truncate(os.path.getsize(state) // 3)
    again = run_kotasks(hello, "build", "./cmd/app", env=env).ok()
    assert again.refs == first.refs
    assert run_kotasks(hello, "build", "./cmd/app", env=env).ok().executed == []
    state.unlink()
    rebuilt = run_kotasks(hello, "build", "./cmd/app", env=env).ok()
    assert rebuilt.refs == first.refs and "build:cmd/app" in rebuilt.executed


def test_two_runs_at_once_both_finish(hello: Path, registry: Registry, tmp_path: Path) -> None:
    env = build_env({"KO_DOCKER_REPO": f"{registry.host}/together"})
    argv = [sys.executable, "-m", "kotasks", "build", "./cmd/app", "./cmd/worker"]
    procs = [subprocess.Popen(argv, cwd=hello, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    assert outputs[0][0] == outputs[1][0] and len(outputs[0][0].split()) == 2
    third = run_kotasks(hello, "build", "./cmd/app", "./cmd/worker",
                        env={"KO_DOCKER_REPO": f"{registry.host}/together"}).ok()
    assert third.executed == [] and third.stdout == outputs[0][0]
    for i, ref in enumerate(third.refs):
        skopeo_copy(f"docker://{ref}", f"oci:{tmp_path}/copy{i}:latest")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT],
                         ids=["SIGKILL", "SIGTERM", "SIGINT"])
def test_interrupted_mid_push_then_a_normal_run(hello: Path, proxy: FaultProxy,
                                                registry: Registry, tmp_path: Path,
                                                how: signal.Signals) -> None:
    proxy.faults.append(Fault(r"^PUT /v2/.+/blobs/uploads/", delay=30, times=1))
    repo = f"{proxy.host}/killed-{how.name.lower()}"
    proc = subprocess.Popen([sys.executable, "-m", "kotasks", "build", "./cmd/app",
                             "./cmd/worker"], cwd=hello, env=build_env({"KO_DOCKER_REPO": repo}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not proxy.outcomes("slow") and time.monotonic() < deadline:
        assert proc.poll() is None, "the build ended before its first upload"
        time.sleep(0.05)
    time.sleep(0.5)  # let the other uploads of that moment go through
    if how == signal.SIGKILL:
        os.killpg(proc.pid, how)
    else:
        proc.send_signal(how)
    started = time.monotonic()
    assert proc.wait(timeout=60) != 0
    # an upload hanging on the network does not hold the exit up
    assert time.monotonic() - started < 5
    proxy.faults.clear()
    mark = len(proxy.log)
    repositories = _repositories(proxy, repo.split("/", 1)[1])
    present = {digest for digest in uploads(proxy) for name in repositories
               if requests.head(f"http://{registry.host}/v2/{name}/blobs/sha256:{digest}",
                                timeout=10).status_code == 200}
    assert present, "no upload had finished before the kill: the check below would be empty"
    result = run_kotasks(hello, "build", "./cmd/app", "./cmd/worker",
                         env={"KO_DOCKER_REPO": repo}).ok()
    assert not present & set(uploads(proxy, mark)), "a blob the registry had was sent again"
    for i, ref in enumerate(result.refs):
        read_back(ref, proxy, registry, tmp_path / f"copy{i}")


def _repositories(proxy: FaultProxy, prefix: str) -> set[str]:
    """The repositories under ``prefix`` the proxy saw requests for."""
    return {f"{prefix}/{m.group(1)}" for line, _ in proxy.log
            if (m := re.match(rf"^\w+ /v2/{re.escape(prefix)}/([^/]+)/", line))}
