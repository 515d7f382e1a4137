"""Session fixtures: one registry, one Go build cache, the example copied per test; and
daemons ko publishes to: a private dockerd, a podman API service, kind-style clusters; and a
real Kubernetes API server (kube-apiserver on etcd) that ko resolve/apply talk to."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.dockerd import Dockerd, start_dockerd
from tests.support.kindnode import KindCluster, node_image, start_kind_cluster
from tests.support.kubeapi import KubeAPI, find_binary, start_kube_apiserver
from tests.support.podman import PodmanService, start_podman_service
from tests.support.project import EXAMPLES, FIXTURES, copy_module
from tests.support.registry import Registry, start_registry

TOOLS = ("go", "docker-registry", "skopeo", "umoci", "runc", "dockerd", "docker", "containerd",
         "ctr", "podman", "etcd", "kubectl")


def pytest_configure(config: pytest.Config) -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise pytest.UsageError(f"tests need {', '.join(missing)} on PATH (see .ci/run)")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A plain-HTTP registry on 127.0.0.1, shared by the whole session."""
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    """A private dockerd on a unix socket (no bridge, no iptables), shared by the session."""
    daemon = start_dockerd(tmp_path_factory.mktemp("dockerd"))
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def podman_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodmanService]:
    """``podman system service`` (Docker's API) on a unix socket, with its own storage."""
    service = start_podman_service(tmp_path_factory.mktemp("podman"))
    yield service
    service.stop()


@pytest.fixture(scope="session")
def kube_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeAPI]:
    """kube-apiserver (built by scripts/kube-apiserver) on etcd, shared by the session.

    No controllers run: use ``kube_api.new_namespace(...)`` per test, delete objects only.
    """
    binary = find_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"no kube-apiserver binary at {binary} (KOTASKS_KUBE_APISERVER): "
                    "run `bash scripts/kube-apiserver` first (scripts/test does)", pytrace=False)
    api = start_kube_apiserver(tmp_path_factory.mktemp("kubeapi"), str(binary))
    yield api
    api.stop()


@pytest.fixture(scope="session")
def kind_node_image(dockerd: Dockerd) -> str:
    """The kind-style node image (the host's containerd and ctr) in the session's dockerd."""
    return node_image(dockerd)


@pytest.fixture
def kind_cluster(dockerd: Dockerd,
                 kind_node_image: str) -> Iterator[Callable[..., KindCluster]]:
    """``make(name, nodes=1)`` starts a kind-style cluster; all are removed after the test."""
    made: list[KindCluster] = []

    def make(name: str, nodes: int = 1) -> KindCluster:
        cluster = start_kind_cluster(dockerd, name, nodes, image=kind_node_image)
        made.append(cluster)
        return cluster

    yield make
    for cluster in reversed(made):
        cluster.stop()


@pytest.fixture
def local(tmp_path: Path) -> Path:
    """A private copy of tests/fixtures/local (show prints its kodata; other prints its name;
    config/ has a Deployment of each)."""
    return copy_module(FIXTURES / "local", tmp_path / "local")


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    """A private copy of examples/hello."""
    return copy_module(EXAMPLES / "hello", tmp_path / "hello")
