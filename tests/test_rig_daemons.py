"""The daemon fixtures work for real: dockerd, the podman service and kind-style clusters."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.dockerd import Dockerd, mounts_under, start_dockerd, unix_http
from tests.support.kindnode import CLUSTER_LABEL, ROLE_LABEL, KindCluster
from tests.support.podman import PodmanService
from tests.support.project import build_env

pytestmark = pytest.mark.slow

REF = "ko.local/rig:v1"
GREETING = "hello from the kotasks test rig"
MAIN_GO = """\
package main

import (
\t"fmt"
\t"os"
\t"time"
)

func main() {
\tdata, err := os.ReadFile("/etc/rig.txt")
\tfmt.Printf("%s; rig.txt=%q err=%v\\n", os.Getenv("GREETING"), data, err)
\tif len(os.Args) > 1 && os.Args[1] == "sleep" {
\t\ttime.Sleep(time.Hour)
\t}
}
"""


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def docker_archive(ref: str, layers: list[bytes], entrypoint: list[str]) -> bytes:
    """A ``docker save``-style tarball (ko's tarball format): gzip layers, manifest.json."""
    gz = [gzip.compress(layer, mtime=0) for layer in layers]
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": entrypoint, "Env": [f"GREETING={GREETING}"]},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]},
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_names = [hashlib.sha256(blob).hexdigest() + ".tar.gz" for blob in gz]
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": layer_names}])
    files = {config_name: (config, 0o644),
             **{n: (b, 0o644) for n, b in zip(layer_names, gz, strict=True)},
             "manifest.json": (manifest.encode(), 0o644)}
    return _tar(files)


@pytest.fixture(scope="module")
def rig_archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Two layers: a static Go binary, and /etc/rig.txt that it prints."""
    src = tmp_path_factory.mktemp("rigsrc")
    (src / "go.mod").write_text("module example.com/rig\n\ngo 1.21\n")
    (src / "main.go").write_text(MAIN_GO)
    subprocess.run(["go", "build", "-trimpath", "-ldflags=-s -w", "-o", "rig", "."], cwd=src,
                   env=build_env({"CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64"}),
                   check=True, capture_output=True, timeout=300)
    binary = _tar({"rig": ((src / "rig").read_bytes(), 0o755)})
    data = _tar({"etc/rig.txt": (b"second layer", 0o644)})
    return docker_archive(REF, [binary, data], ["/rig"])


@pytest.fixture(scope="module")
def loaded(dockerd: Dockerd, rig_archive: bytes) -> str:
    dockerd.docker("load", input=rig_archive)
    return REF


def test_dockerd_loads_and_runs_an_image(dockerd: Dockerd, rig_archive: bytes) -> None:
    mark = dockerd.log_mark()
    out = dockerd.docker("load", input=rig_archive).stdout
    assert f"Loaded image: {REF}" in out
    assert any(call.startswith("POST /v1.41/images/load") for call in dockerd.api_calls_since(mark))
    run = dockerd.docker("run", "--rm", "--network", "none", REF).stdout
    assert run.strip() == f'{GREETING}; rig.txt="second layer" err=<nil>'


def test_dockerd_is_private(dockerd: Dockerd) -> None:
    info = json.loads(dockerd.docker("info", "--format", "{{json .}}").stdout)
    assert info["DockerRootDir"] == str(dockerd.data_root)
    assert info["Driver"] == dockerd.storage_driver
    assert not Path("/sys/class/net/docker0").exists()
    assert dockerd.env == {"DOCKER_HOST": dockerd.host}
    assert len(str(dockerd.socket)) < 100
    status, body = unix_http(dockerd.socket, "GET", "/_ping")
    assert (status, body) == (200, b"OK")


def test_dockerd_stop_leaves_nothing_behind(tmp_path: Path, rig_archive: bytes) -> None:
    daemon = start_dockerd(tmp_path / "own")
    try:
        daemon.docker("load", input=rig_archive)
        daemon.docker("run", "--detach", "--network", "none", REF, "sleep")
        assert daemon.containerd_pid and Path(f"/proc/{daemon.containerd_pid}").exists()
        assert mounts_under(daemon.data_root)  # the container's overlay (or vfs bind) mounts
    finally:
        daemon.stop()
    assert daemon.process.returncode is not None
    assert not mounts_under(daemon.data_root, daemon.rundir)
    assert not daemon.rundir.exists() and not daemon.data_root.exists()
    left = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(daemon.rundir) in cmdline or str(daemon.data_root) in cmdline:
                left.append(f"{proc.name}: {cmdline}")
    assert not left


def test_podman_service_answers_the_docker_api(podman_service: PodmanService,
                                               rig_archive: bytes) -> None:
    assert unix_http(podman_service.socket, "GET", "/_ping") == (200, b"OK")
    status, body = unix_http(podman_service.socket, "GET", "/v1.41/images/json")
    assert status == 200 and isinstance(json.loads(body), list)
    version = json.loads(unix_http(podman_service.socket, "GET", "/v1.41/version")[1])
    assert any(c["Name"] == "Podman Engine" for c in version["Components"])

    mark = podman_service.log_mark()
    status, body = unix_http(podman_service.socket, "POST", "/v1.41/images/load?quiet=1",
                             body=rig_archive, headers={"Content-Type": "application/x-tar"},
                             timeout=60)  # what a Docker client sends
    assert status == 200, body
    assert "POST /v1.41/images/load?quiet=1" in podman_service.api_calls_since(mark)

    images = json.loads(unix_http(podman_service.socket, "GET", "/v1.41/images/json")[1])
    assert any(f"{REF}" in (image.get("RepoTags") or []) for image in images), images
    listed = podman_service.podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert REF in listed.split()  # the CLI sees the service's storage
    run = podman_service.podman("run", "--rm", REF).stdout
    assert run.strip() == f'{GREETING}; rig.txt="second layer" err=<nil>'


def test_kind_nodes_are_labelled_like_kind(dockerd: Dockerd,
                                           kind_cluster: Callable[..., KindCluster]) -> None:
    cluster = kind_cluster("rigtest", nodes=3)
    assert cluster.nodes == ["rigtest-control-plane", "rigtest-worker", "rigtest-worker2"]
    # what kind's docker provider runs to list a cluster's nodes
    names = dockerd.docker("ps", "-a", "--filter", f"label={CLUSTER_LABEL}=rigtest",
                           "--format", "{{.Names}}").stdout.split()
    assert sorted(names) == sorted(cluster.nodes)
    for node in cluster.nodes:
        role = dockerd.docker("inspect", "--format",
                              f'{{{{index .Config.Labels "{ROLE_LABEL}"}}}}', node).stdout.strip()
        assert role == ("control-plane" if node.endswith("control-plane") else "worker")
    assert "Server:" in cluster.ctr(cluster.nodes[0], "version").stdout
    cluster.stop()
    assert not dockerd.docker("ps", "-aq", "--filter", f"label={CLUSTER_LABEL}=rigtest").stdout


def test_kind_node_imports_a_docker_save_stream(
        dockerd: Dockerd, loaded: str, kind_cluster: Callable[..., KindCluster]) -> None:
    cluster = kind_cluster("rigload", nodes=2)
    saved = subprocess.run([dockerd.cli, "-H", dockerd.host, "save", loaded],
                           capture_output=True, check=True, env=dockerd.cli_env()).stdout
    first, second = cluster.nodes
    # what kind and ko do: docker exec -i NODE ctr --namespace=k8s.io images import ... -
    out = cluster.ctr(first, "images", "import", "--all-platforms", "-", input=saved).stdout
    assert f"unpacking {loaded}" in out
    images = cluster.images(first)
    assert images[loaded].startswith("sha256:")
    assert loaded not in cluster.images(second)  # every node has its own containerd
    # both layers were unpacked into the node's snapshotter
    snaps = cluster.ctr(first, "snapshots", "--snapshotter", cluster.snapshotter, "ls").stdout
    assert len(snaps.splitlines()) == 3, snaps
    # ko's Tag: ctr images tag --force
    cluster.ctr(first, "images", "tag", "--force", loaded, "ko.local/rig:other")
    assert cluster.images(first)["ko.local/rig:other"] == images[loaded]

    env = os.environ  # the docker CLI's stdin streaming, as a client process piping into exec
    pipe = subprocess.run(
        f"{dockerd.cli} -H {dockerd.host} save {loaded} | {dockerd.cli} -H {dockerd.host} "
        f"exec -i {second} ctr --namespace=k8s.io images import --all-platforms -",
        shell=True, capture_output=True, text=True, env={**env, **dockerd.cli_env()})
    assert pipe.returncode == 0, pipe.stderr
    assert cluster.images(second)[loaded] == images[loaded]
