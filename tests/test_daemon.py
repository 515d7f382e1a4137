"""The Docker daemon target (``-L``, ``KO_DOCKER_REPO=ko.local…``): ko's names and references,
images that run, and loads as tasks that skip what the daemon already holds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.dockerd import Dockerd
from tests.support.forward import tcp_to_unix
from tests.support.podman import PodmanService
from tests.support.project import Result, append, md5, run_doit, run_kotasks

pytestmark = pytest.mark.slow

SHOW = "example.com/local/cmd/show"
OTHER = "example.com/local/cmd/other"
HEX = r"[0-9a-f]{64}"




def loads(calls: list[str]) -> list[str]:
    return [c for c in calls if re.search(r"^POST /v[\d.]+/images/load", c)]


def image_ids(dockerd: Dockerd, name: str) -> dict[str, str]:
    """Tag → image ID of every image of ``name`` in the daemon."""
    out = dockerd.docker("images", "--no-trunc", "--format", "{{.Tag}} {{.ID}}", name).stdout
    return dict(line.split() for line in out.splitlines())


def pushed_free(result: Result) -> list[str]:
    """The refs a run printed (stdout carries only them)."""
    return result.ok().refs


def test_local_flag_loads_an_image_that_runs(local: Path, dockerd: Dockerd) -> None:
    [ref] = pushed_free(run_kotasks(local, "build", "-L", "./cmd/show", env=dockerd.env))
    name = f"ko.local/show-{md5(SHOW)}"
    assert re.fullmatch(rf"{re.escape(name)}:{HEX}", ref)
    [layout_ref] = run_kotasks(local, "build", "--push=false", "./cmd/show").ok().refs
    assert ref.rsplit(":", 1)[1] == layout_ref.rsplit(":", 1)[1]  # the manifest digest
    ids = image_ids(dockerd, name)
    assert set(ids) == {ref.rsplit(":", 1)[1], "latest"} and len(set(ids.values())) == 1
    config = json.loads(dockerd.docker("image", "inspect", ref).stdout)[0]
    assert config["Config"]["Entrypoint"] == ["/ko-app/show"]
    run = dockerd.docker("run", "--rm", "--network", "none", ref)
    assert run.stdout == "hello from kodata\n"


def test_ko_local_repository_names_and_tags(local: Path, dockerd: Dockerd) -> None:
    env = {**dockerd.env, "KO_DOCKER_REPO": "ko.local/team"}
    [ref] = pushed_free(run_kotasks(local, "build", "./cmd/other", "-t", "a,b", env=env))
    name = f"ko.local/team/other-{md5(OTHER)}"
    assert ref.startswith(f"{name}:")
    ids = image_ids(dockerd, name)
    assert set(ids) == {ref.rsplit(":", 1)[1], "a", "b"} and len(set(ids.values())) == 1
    assert dockerd.docker("run", "--rm", "--network", "none", f"{name}:a").stdout == "other\n"


def test_naming_flags_apply(local: Path, dockerd: Dockerd) -> None:
    [ref] = pushed_free(run_kotasks(local, "build", "-L", "-B", "./cmd/other", env=dockerd.env))
    assert re.fullmatch(rf"ko\.local/other:{HEX}", ref)
    [ref] = pushed_free(run_kotasks(local, "build", "--local", "-P", "./cmd/other",
                                    env=dockerd.env))
    assert re.fullmatch(rf"ko\.local/{re.escape(OTHER)}:{HEX}", ref)


def test_a_no_op_run_asks_one_question_per_image(local: Path, dockerd: Dockerd) -> None:
    first = run_kotasks(local, "build", "-L", "./cmd/show", "./cmd/other", env=dockerd.env)
    mark = dockerd.log_mark()
    again = run_kotasks(local, "build", "-L", "./cmd/show", "./cmd/other", env=dockerd.env)
    assert again.ok().executed == [] and again.refs == first.ok().refs
    calls = dockerd.api_calls_since(mark)
    assert len(calls) == 2, calls
    assert all(re.fullmatch(r"GET (/v[\d.]+)?/images/sha256:[0-9a-f]{64}/json", c)
               for c in calls), calls


def test_an_image_deleted_behind_our_back_is_loaded_again(local: Path,
                                                           dockerd: Dockerd) -> None:
    [ref] = pushed_free(run_kotasks(local, "build", "-L", "./cmd/show", env=dockerd.env))
    image_id = dockerd.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()
    dockerd.docker("rmi", "-f", image_id)  # every name of it, other tests' ones too
    mark = dockerd.log_mark()
    again = run_kotasks(local, "build", "-L", "./cmd/show", env=dockerd.env).ok()
    assert again.executed == ["build:cmd/show"] and again.refs == [ref]
    assert len(loads(dockerd.api_calls_since(mark))) == 1
    assert dockerd.docker("run", "--rm", "--network", "none", ref).stdout == "hello from kodata\n"
    # only a tag gone: the tag comes back, nothing is loaded
    dockerd.docker("rmi", ref.rsplit(":", 1)[0] + ":latest")
    mark = dockerd.log_mark()
    run_kotasks(local, "build", "-L", "./cmd/show", env=dockerd.env).ok()
    calls = dockerd.api_calls_since(mark)
    assert loads(calls) == [] and any("/tag" in c for c in calls), calls
    assert "latest" in image_ids(dockerd, ref.rsplit(":", 1)[0])


def test_one_package_edit_reloads_only_its_image(local: Path, dockerd: Dockerd) -> None:
    run_kotasks(local, "build", "-L", "./cmd/show", "./cmd/other", env=dockerd.env).ok()
    append(local / "cmd/other/main.go", "\nfunc init() { println(\"edited\") }\n")
    mark = dockerd.log_mark()
    again = run_kotasks(local, "build", "-L", "./cmd/show", "./cmd/other", env=dockerd.env).ok()
    assert [t for t in again.executed if t.startswith("build:")] == ["build:cmd/other"]
    assert len(loads(dockerd.api_calls_since(mark))) == 1
    other = again.refs[1]
    assert dockerd.docker("run", "--rm", "--network", "none", other).stderr == "edited\n"


def test_doit_and_kotasks_share_the_daemon_tasks(local: Path, dockerd: Dockerd) -> None:
    env = {**dockerd.env, "KO_DOCKER_REPO": "ko.local"}
    built = run_kotasks(local, "build", "./cmd/show", env=env).ok()
    again = run_doit(local, "build:cmd/show", env=env).ok()
    assert again.executed == [] and again.refs == built.refs


def test_an_index_is_reduced_to_linux_amd64(local: Path, dockerd: Dockerd) -> None:
    platforms = "--platform=linux/arm64,linux/amd64"
    [index_ref] = run_kotasks(local, "build", "--push=false", platforms,
                              "./cmd/show").ok().refs
    [ref] = pushed_free(run_kotasks(local, "build", "-L", platforms, "./cmd/show",
                                    env=dockerd.env))
    index = json.loads((local / ".kotasks/oci/blobs/sha256" /
                        index_ref.rsplit(":", 1)[1]).read_text())
    amd64 = [m["digest"] for m in index["manifests"]
             if m["platform"]["architecture"] == "amd64"]
    assert amd64 == ["sha256:" + ref.rsplit(":", 1)[1]]
    assert dockerd.docker("run", "--rm", "--network", "none", ref).stdout == "hello from kodata\n"


def error_line(result: Result) -> str:
    assert result.returncode != 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("kotasks: error:")]
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_an_index_without_the_platform_is_an_error(local: Path, dockerd: Dockerd) -> None:
    line = error_line(run_kotasks(local, "build", "-L", "--platform=linux/arm64,linux/arm/v7",
                                  "./cmd/show", env=dockerd.env))
    assert f"ko.local/show-{md5(SHOW)}" in line and "no linux/amd64 image" in line
    assert "linux/arm64, linux/arm/v7" in line


def test_no_daemon_is_one_clear_error(local: Path, tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/nothing.sock"
    line = error_line(run_kotasks(local, "build", "-L", "./cmd/show",
                                  env={"DOCKER_HOST": host}))
    assert f"Docker daemon at {host}" in line and "cannot connect" in line


def test_a_refused_load_is_one_clear_error(local: Path, dockerd: Dockerd) -> None:
    line = error_line(run_kotasks(local, "build", "-L", "--platform=windows/amd64",
                                  "./cmd/other", env=dockerd.env))
    assert f"load ko.local/other-{md5(OTHER)}:" in line and dockerd.host in line
    assert "windows" in line.lower()
    run_kotasks(local, "build", "-L", "./cmd/other", env=dockerd.env).ok()


def test_the_validation_banner_for_a_redundant_local(local: Path, dockerd: Dockerd) -> None:
    result = run_kotasks(local, "build", "-L", "./cmd/other",
                         env={**dockerd.env, "KO_DOCKER_REPO": "ko.local"}).ok()
    assert "WARNING: --local is redundant" in result.stderr


def test_podmans_docker_socket_works_the_same(local: Path,
                                              podman_service: PodmanService) -> None:
    [ref] = pushed_free(run_kotasks(local, "build", "-L", "./cmd/show", env=podman_service.env))
    assert re.fullmatch(rf"ko\.local/show-{md5(SHOW)}:{HEX}", ref)
    out = podman_service.podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert ref in out.split() and ref.rsplit(":", 1)[0] + ":latest" in out.split()
    mark = podman_service.log_mark()
    assert run_kotasks(local, "build", "-L", "./cmd/show",
                       env=podman_service.env).ok().executed == []
    assert not [c for c in podman_service.api_calls_since(mark) if "/images/load" in c]
    run = podman_service.podman("run", "--rm", "--network", "none", ref)
    assert run.stdout == "hello from kodata\n"


def test_a_tcp_docker_host_works_the_same(local: Path, dockerd: Dockerd) -> None:
    with tcp_to_unix(dockerd.socket) as host:
        [ref] = pushed_free(run_kotasks(local, "build", "-L", "./cmd/other",
                                        env={"DOCKER_HOST": host}))
        again = run_kotasks(local, "build", "-L", "./cmd/other", env={"DOCKER_HOST": host})
        assert again.ok().executed == [] and again.refs == [ref]
    assert dockerd.docker("run", "--rm", "--network", "none", ref).stdout == "other\n"
