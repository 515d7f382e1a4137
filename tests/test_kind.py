"""The kind target (``KO_DOCKER_REPO=kind.local…``): images imported into every node of the
cluster with ``ctr``, tagged as ko does, and never imported twice."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.dockerd import Dockerd
from tests.support.kindnode import KindCluster
from tests.support.project import Result, md5, run_doit, run_kotasks

pytestmark = pytest.mark.slow

SHOW = "example.com/local/cmd/show"
NAME = f"kind.local/show-{md5(SHOW)}"



def exec_creates(calls: list[str]) -> int:
    return sum(1 for c in calls if re.search(r"^POST (/v[\d.]+)?/containers/[^/]+/exec$", c))


def env_for(dockerd: Dockerd, cluster: KindCluster, **extra: str) -> dict[str, str]:
    return {**dockerd.env, "KO_DOCKER_REPO": "kind.local", "KIND_CLUSTER_NAME": cluster.name,
            **extra}


def test_every_node_gets_the_image_and_its_tags(local: Path, dockerd: Dockerd,
                                                kind_cluster: Callable[..., KindCluster]
                                                ) -> None:
    cluster = kind_cluster("kt-two", nodes=2)
    [ref] = run_kotasks(local, "build", "./cmd/show", "-t", "v1,latest",
                        env=env_for(dockerd, cluster)).ok().refs
    assert re.fullmatch(rf"{re.escape(NAME)}:[0-9a-f]{{64}}", ref)
    for node in cluster.nodes:
        images = cluster.images(node)
        assert images[ref] == images[f"{NAME}:v1"] == images[f"{NAME}:latest"], images
    config = cluster.ctr(cluster.nodes[1], "images", "check").stdout
    assert ref in config and "complete" in config


def test_a_second_run_imports_nothing(local: Path, dockerd: Dockerd,
                                      kind_cluster: Callable[..., KindCluster]) -> None:
    cluster = kind_cluster("kt-noop", nodes=2)
    env = env_for(dockerd, cluster)
    first = run_kotasks(local, "build", "./cmd/show", env=env).ok()
    listed = {node: cluster.images(node) for node in cluster.nodes}
    mark = dockerd.log_mark()
    again = run_kotasks(local, "build", "./cmd/show", env=env).ok()
    assert again.executed == [] and again.refs == first.refs
    calls = dockerd.api_calls_since(mark)
    assert exec_creates(calls) == len(cluster.nodes), calls  # one image listing per node
    assert {node: cluster.images(node) for node in cluster.nodes} == listed
    doit = run_doit(local, "build:cmd/show", env=env).ok()
    assert doit.executed == [] and doit.refs == first.refs


def test_a_node_that_lost_the_image_gets_it_again(local: Path, dockerd: Dockerd,
                                                  kind_cluster: Callable[..., KindCluster]
                                                  ) -> None:
    cluster = kind_cluster("kt-lost", nodes=2)
    env = env_for(dockerd, cluster)
    [ref] = run_kotasks(local, "build", "./cmd/show", env=env).ok().refs
    kept, lost = cluster.nodes
    before = cluster.images(kept)
    cluster.ctr(lost, "images", "rm", ref, f"{NAME}:latest")
    assert ref not in cluster.images(lost)
    result: Result = run_kotasks(local, "build", "./cmd/show", env=env).ok()
    assert result.executed == ["build:cmd/show"]
    assert f"Loading {ref} into {lost}" in result.stderr
    assert f"into {kept}" not in result.stderr
    assert cluster.images(lost)[f"{NAME}:latest"] == before[ref]
    assert cluster.images(kept) == before


def test_a_cluster_without_nodes_is_an_error(local: Path, dockerd: Dockerd) -> None:
    result = run_kotasks(local, "build", "./cmd/show",
                         env={**dockerd.env, "KO_DOCKER_REPO": "kind.local",
                              "KIND_CLUSTER_NAME": "nowhere"})
    assert result.returncode != 0 and result.stdout == ""
    [line] = [x for x in result.stderr.splitlines() if x.startswith("kotasks: error:")]
    assert "kind cluster 'nowhere'" in line and "no nodes" in line


def test_the_default_cluster_is_kind(local: Path, dockerd: Dockerd,
                                     kind_cluster: Callable[..., KindCluster]) -> None:
    cluster = kind_cluster("kind")
    [ref] = run_kotasks(local, "build", "./cmd/show",
                        env={**dockerd.env, "KO_DOCKER_REPO": "kind.local"}).ok().refs
    assert ref in cluster.images(cluster.nodes[0])
