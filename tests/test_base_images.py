"""Base images from a registry: layers, config and annotations as ko builds on them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kotasks.oci.layout import Layout
from kotasks.oci.validate import validate_image
from tests.support.images import (
    push_base,
    skopeo_config,
    skopeo_copy,
    skopeo_raw,
    umoci_unpack,
    write_base_layout,
)
from tests.support.project import run_kotasks
from tests.support.registry import Registry, start_registry

pytestmark = pytest.mark.slow

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture(scope="module")
def bases(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An OCI base and a Docker schema 2 base, pushed to the session registry."""
    layout = write_base_layout(tmp_path_factory.mktemp("base") / "layout")
    return {"oci": push_base(layout, registry.host, "bases/oci"),
            "docker": push_base(layout, registry.host, "bases/docker", docker_format=True)}


@pytest.fixture(scope="module")
def other_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = start_registry(tmp_path_factory.mktemp("other"))
    yield reg
    reg.stop()


def _build(module: Path, base: str, repo: str, env: dict[str, str] | None = None) -> str:
    (module / ".ko.yaml").write_text(f"defaultBaseImage: {base}\n")
    result = run_kotasks(module, "build", "./cmd/app",
                         env={"KO_DOCKER_REPO": repo, **(env or {})}).ok()
    return result.refs[0]


@pytest.mark.parametrize("kind", ["oci", "docker"])
def test_image_on_a_registry_base_keeps_the_base_and_follows_its_media_types(
        hello: Path, registry: Registry, bases: dict[str, str], kind: str,
        tmp_path: Path) -> None:
    ref = _build(hello, bases[kind], f"{registry.host}/onbase-{kind}")
    base_manifest = skopeo_raw(f"docker://{bases[kind]}")
    manifest = skopeo_raw(f"docker://{ref}")
    assert manifest["mediaType"] == base_manifest["mediaType"]
    assert manifest["config"]["mediaType"] == base_manifest["config"]["mediaType"]
    assert manifest["layers"][:1] == base_manifest["layers"]
    assert {layer["mediaType"] for layer in manifest["layers"]} == {
        base_manifest["layers"][0]["mediaType"]}
    if kind == "docker":
        assert manifest["mediaType"] == DOCKER_MANIFEST
    annotations = manifest["annotations"]
    assert annotations["org.opencontainers.image.base.name"] == bases[kind]
    base_digest = skopeo_raw_digest(bases[kind])
    assert annotations["org.opencontainers.image.base.digest"] == base_digest
    if kind == "oci":
        assert annotations["base.annotation"] == "kept"

    config = skopeo_config(f"docker://{ref}")
    inner = config["config"]
    assert inner["Env"] == ["PATH=/usr/local/bin:/usr/bin:/bin:/ko-app", "BASE=1",
                            "KO_DATA_PATH=/var/run/ko"]
    assert "Cmd" not in inner
    assert inner["Entrypoint"] == ["/ko-app/app"]
    assert inner["Labels"] == {"base.label": "kept"} and inner["WorkingDir"] == "/work"
    assert config["created"] == "2024-01-02T03:04:05Z"
    assert [h.get("comment") for h in config["history"]] == [
        None, "kodata contents, at $KO_DATA_PATH", "go build output, at /ko-app/app"]

    pulled = tmp_path / "pulled"
    skopeo_copy(f"docker://{ref}", f"oci:{pulled}:x", "--preserve-digests")
    validate_image(Layout(pulled).open, skopeo_raw_digest(ref))
    converted = tmp_path / "converted"  # umoci reads only OCI manifests
    skopeo_copy(f"docker://{ref}", f"oci:{converted}:x")
    rootfs = umoci_unpack(f"{converted}:x", tmp_path / "bundle")
    assert (rootfs / "etc/base-marker").read_text() == "linux/amd64"
    assert (rootfs / "ko-app/app").is_file()


def skopeo_raw_digest(ref: str) -> str:
    import hashlib

    from tests.support.images import skopeo_raw_bytes

    return "sha256:" + hashlib.sha256(skopeo_raw_bytes(f"docker://{ref}")).hexdigest()


def test_source_date_epoch_sets_created(hello: Path, registry: Registry,
                                        bases: dict[str, str]) -> None:
    ref = _build(hello, bases["oci"], f"{registry.host}/epoch",
                 env={"SOURCE_DATE_EPOCH": "1700000000", "KO_DATA_DATE_EPOCH": "1600000000"})
    config = skopeo_config(f"docker://{ref}")
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert [h["created"] for h in config["history"][1:]] == ["2020-09-13T12:26:40Z",
                                                              "2023-11-14T22:13:20Z"]


def test_base_layers_are_mounted_within_a_registry(hello: Path, registry: Registry,
                                                   bases: dict[str, str]) -> None:
    mark = registry.mark()
    _build(hello, bases["oci"], f"{registry.host}/mounted")
    posts = [line for line in registry.requests_since(mark) if '"POST ' in line]
    assert any("mount=sha256" in line and "from=bases%2Foci" in line for line in posts), posts


def test_base_layers_are_copied_across_registries(hello: Path, registry: Registry,
                                                  other_registry: Registry,
                                                  bases: dict[str, str], tmp_path: Path) -> None:
    ref = _build(hello, bases["oci"], f"{other_registry.host}/copied")
    pulled = tmp_path / "pulled"
    skopeo_copy(f"docker://{ref}", f"oci:{pulled}:x")
    rootfs = umoci_unpack(f"{pulled}:x", tmp_path / "bundle")
    assert (rootfs / "etc/base-marker").is_file()


def test_embedded_layout_holds_the_base_layers(hello: Path, bases: dict[str, str],
                                               tmp_path: Path) -> None:
    (hello / ".ko.yaml").write_text(f"defaultBaseImage: {bases['oci']}\n")
    result = run_kotasks(hello, "build", "./cmd/app").ok()
    layout = hello / ".kotasks/oci"
    index = json.loads((layout / "index.json").read_text())
    [entry] = index["manifests"]
    name = entry["annotations"]["org.opencontainers.image.ref.name"]
    assert result.refs == [f".kotasks/oci@{entry['digest']}"]
    assert "KO_DOCKER_REPO is not set" in result.stderr
    rootfs = umoci_unpack(f"{layout}:{name}", tmp_path / "bundle")
    assert (rootfs / "etc/base-marker").is_file()
