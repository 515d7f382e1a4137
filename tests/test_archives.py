"""``--tarball`` (docker load-able, as ko) and ``--oci-archive`` (an OCI layout in one file, an
index allowed): every image of the run, written at the end, rewritten only when one changed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
from pathlib import Path

import pytest

from tests.support.dockerd import Dockerd
from tests.support.images import skopeo_copy, skopeo_raw, skopeo_raw_bytes
from tests.support.podman import PodmanService
from tests.support.project import append, md5, run_kotasks
from tests.support.registry import Registry

pytestmark = pytest.mark.slow

SHOW = "example.com/local/cmd/show"
OTHER = "example.com/local/cmd/other"
DIGEST = r"sha256:[0-9a-f]{64}"




def test_the_tarball_loads_into_docker_with_every_tag(local: Path, registry: Registry,
                                                      dockerd: Dockerd, tmp_path: Path) -> None:
    repo = f"{registry.host}/tarball"
    tarball = tmp_path / "images.tar"
    refs = run_kotasks(local, "build", "./cmd/show", "./cmd/other", "-t", "v1,v2",
                       "--tarball", str(tarball), env={"KO_DOCKER_REPO": repo}).ok().refs
    names = [f"{repo}/show-{md5(SHOW)}", f"{repo}/other-{md5(OTHER)}"]
    assert [ref.split("@")[0] for ref in refs] == names  # the registry's references
    with tarfile.open(tarball) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert [entry["RepoTags"] for entry in manifest] == [[f"{n}:v1", f"{n}:v2"] for n in names]
    loaded = dockerd.docker("load", "-i", str(tarball)).stdout
    for name, ref in zip(names, refs, strict=True):
        assert f"Loaded image: {name}:v2" in loaded
        config = skopeo_raw(f"docker://{ref}")["config"]["digest"]
        image_id = dockerd.docker("image", "inspect", "--format", "{{.Id}}", f"{name}:v1").stdout
        assert image_id.strip() == config
    out = dockerd.docker("run", "--rm", "--network", "none", f"{names[0]}:v1").stdout
    assert out == "hello from kodata\n"


def test_the_tarball_is_rewritten_only_when_an_image_changed(local: Path,
                                                             tmp_path: Path) -> None:
    tarball = tmp_path / "images.tar"
    args = ("build", "--push=false", "--tarball", str(tarball), "./cmd/show", "./cmd/other")
    refs = run_kotasks(local, *args).ok().refs
    assert re.fullmatch(rf"show-{md5(SHOW)}@{DIGEST}", refs[0])  # ko's form, no repository
    written = os.stat(tarball).st_mtime_ns
    again = run_kotasks(local, *args).ok()
    assert again.executed == [] and again.refs == refs
    assert os.stat(tarball).st_mtime_ns == written
    append(local / "cmd/other/main.go", "\nfunc init() { println(\"edited\") }\n")
    edited = run_kotasks(local, *args).ok()
    assert "tarball" in edited.executed and "build:cmd/show" not in edited.executed
    assert edited.refs[0] == refs[0] and edited.refs[1] != refs[1]
    tarball.unlink()
    assert run_kotasks(local, *args).ok().executed == ["tarball"]
    assert tarball.exists()


def test_an_index_cannot_go_into_a_tarball(local: Path, tmp_path: Path) -> None:
    tarball = tmp_path / "images.tar"
    result = run_kotasks(local, "build", "--push=false", "--tarball", str(tarball),
                         "--platform=linux/amd64,linux/arm64", "./cmd/show")
    assert result.returncode != 0 and result.stdout == ""
    [line] = [x for x in result.stderr.splitlines() if x.startswith("kotasks: error:")]
    assert f"--tarball {tarball}" in line and "linux/amd64, linux/arm64" in line
    assert "--oci-archive" in line
    assert not tarball.exists() and not list(tmp_path.glob(".images.tar*"))


def test_the_oci_archive_holds_an_index_that_skopeo_copies(local: Path, registry: Registry,
                                                           tmp_path: Path) -> None:
    repo = f"{registry.host}/ociarchive"
    archive = tmp_path / "images.oci.tar"
    [ref] = run_kotasks(local, "build", "./cmd/show", "--platform=linux/amd64,linux/arm64",
                        "--oci-archive", str(archive), env={"KO_DOCKER_REPO": repo}).ok().refs
    name = f"{repo}/show-{md5(SHOW)}"
    assert ref.startswith(f"{name}@")
    copy = f"{registry.host}/copied/show:latest"
    skopeo_copy(f"oci-archive:{archive}:{name}:latest", f"docker://{copy}", "--all")
    index = skopeo_raw(f"docker://{copy}")
    assert index == skopeo_raw(f"docker://{ref}")
    assert len(index["manifests"]) == 2
    copied = "sha256:" + hashlib.sha256(skopeo_raw_bytes(f"docker://{copy}")).hexdigest()
    assert copied == ref.split("@")[1]  # the very index that was pushed


def test_podman_loads_the_oci_archive(local: Path, podman_service: PodmanService,
                                      tmp_path: Path) -> None:
    archive = tmp_path / "show.oci.tar"
    [ref] = run_kotasks(local, "build", "--push=false", "--oci-archive", str(archive),
                        "./cmd/show").ok().refs
    name = f"show-{md5(SHOW)}"
    loaded = podman_service.podman("load", "-i", str(archive)).stdout
    assert name in loaded
    manifest = json.loads((local / ".kotasks/oci/blobs/sha256" /
                           ref.split("@sha256:")[1]).read_text())
    image_id = podman_service.podman("image", "inspect", "--format", "{{.Id}}",
                                     f"{name}:latest").stdout.strip()
    assert f"sha256:{image_id}" == manifest["config"]["digest"]
    out = podman_service.podman("run", "--rm", "--network", "none", f"{name}:latest").stdout
    assert out == "hello from kodata\n"
