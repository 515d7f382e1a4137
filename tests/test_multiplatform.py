"""Multi-platform images: platform selection against a base index, indexes, Windows, qemu."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from kotasks.oci.layout import Layout
from kotasks.oci.validate import validate_index
from tests.support.images import (
    push_base,
    skopeo_config,
    skopeo_copy,
    skopeo_raw,
    skopeo_raw_bytes,
    umoci_unpack,
    write_base_layout,
)
from tests.support.project import FIXTURES, copy_module, run_doit, run_kotasks
from tests.support.registry import Registry
from tests.support.runtime import run_to_completion

pytestmark = pytest.mark.slow

PLATFORMS = [
    {"os": "linux", "architecture": "amd64"},
    {"os": "linux", "architecture": "arm64"},
    {"os": "linux", "architecture": "arm", "variant": "v7"},
    {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.1234"},
]


@pytest.fixture(scope="module")
def base(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A base index of four platforms and an attestation, in the session registry."""
    layout = write_base_layout(tmp_path_factory.mktemp("multibase") / "layout", PLATFORMS,
                               attestation=True)
    return push_base(layout, registry.host, "bases/multi")


@pytest.fixture
def module(tmp_path: Path, base: str) -> Path:
    module = copy_module(FIXTURES / "multi", tmp_path / "multi")
    (module / ".ko.yaml").write_text(f"defaultBaseImage: {base}\n")
    return module


def build(module: Path, registry: Registry, *flags: str) -> str:
    result = run_kotasks(module, "build", "./cmd/kodump", *flags,
                         env={"KO_DOCKER_REPO": f"{registry.host}/multi"}).ok()
    [ref] = result.refs
    return ref


def digest_of(ref: str) -> str:
    return "sha256:" + hashlib.sha256(skopeo_raw_bytes(f"docker://{ref}")).hexdigest()


def test_all_builds_an_index_mirroring_the_base(module: Path, registry: Registry, base: str,
                                                tmp_path: Path) -> None:
    ref = build(module, registry, "--platform=all")
    index = skopeo_raw(f"docker://{ref}")
    base_index = skopeo_raw(f"docker://{base}")
    assert index["mediaType"] == base_index["mediaType"]
    assert [m["platform"] for m in index["manifests"]] == [
        m["platform"] for m in base_index["manifests"][:4]]  # the attestation is skipped
    assert index["annotations"]["org.opencontainers.image.base.name"] == base
    assert index["annotations"]["org.opencontainers.image.base.digest"] == digest_of(base)

    arm64 = skopeo_config(f"docker://{ref}", "--override-arch", "arm64")
    assert arm64["architecture"] == "arm64"
    assert arm64["config"]["Entrypoint"] == ["/ko-app/kodump"]
    armv7 = skopeo_config(f"docker://{ref}", "--override-arch", "arm", "--override-variant",
                          "v7")
    assert (armv7["architecture"], armv7["variant"]) == ("arm", "v7")
    windows = skopeo_config(f"docker://{ref}", "--override-os", "windows")
    assert windows["config"]["Entrypoint"] == ["C:\\ko-app\\kodump"]
    assert windows["config"]["Env"][-1] == "KO_DATA_PATH=C:\\var\\run\\ko"
    assert windows["os.version"] == "10.0.17763.1234"

    pulled = tmp_path / "pulled"
    skopeo_copy(f"docker://{ref}", f"oci:{pulled}:all", "--all")
    validate_index(Layout(pulled).open, digest_of(ref))


def test_platform_lists_and_partial_specs(module: Path, registry: Registry) -> None:
    two = skopeo_raw("docker://" + build(module, registry, "--platform", "linux/arm64",
                                         "--platform", "linux/arm/v7"))
    assert [m["platform"]["architecture"] for m in two["manifests"]] == ["arm64", "arm"]
    linux = skopeo_raw(f"docker://{build(module, registry, '--platform=linux')}")
    assert [m["platform"]["architecture"] for m in linux["manifests"]] == ["amd64", "arm64",
                                                                           "arm"]
    single = skopeo_raw(f"docker://{build(module, registry, '--platform=linux/arm64')}")
    assert "layers" in single and "manifests" not in single
    one_match = skopeo_raw("docker://" + build(module, registry,
                                               "--platform=linux/arm64,linux/s390x"))
    assert "layers" in one_match  # exactly one match gives a plain image, as in ko


def test_no_match_is_an_error_listing_what_the_base_offers(module: Path,
                                                           registry: Registry) -> None:
    for flags in (["--platform=linux/s390x"], ["--platform=linux/s390x,linux/ppc64le"]):
        failed = run_kotasks(module, "build", "./cmd/kodump", *flags,
                             env={"KO_DOCKER_REPO": f"{registry.host}/multi"})
        assert failed.returncode != 0
        [line] = [x for x in failed.stderr.splitlines() if x.startswith("kotasks: error:")]
        assert "linux/s390x" in line
        assert "linux/amd64, linux/arm64, linux/arm/v7, windows/amd64:10.0.17763.1234" in line


def test_windows_layout_and_os_version_prefix(module: Path, registry: Registry) -> None:
    ref = build(module, registry, "--platform=windows/amd64:10.0.17763")
    manifest = skopeo_raw(f"docker://{ref}")
    assert "layers" in manifest
    config = skopeo_config(f"docker://{ref}")
    assert config["os"] == "windows" and config["os.version"] == "10.0.17763.1234"
    store = Layout(module / ".kotasks" / "oci")
    with tarfile.open(store.blob_path(manifest["layers"][-1]["digest"]), "r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["Hives", "Files", "Files/ko-app",
                                         "Files/ko-app/kodump"]
    assert members[-1].pax_headers["MSWINDOWS.rawsd"].startswith("AQAAgBQAAAAk")


@pytest.mark.parametrize(("arch", "variant", "qemu"), [("arm64", "", "qemu-aarch64-static"),
                                                       ("arm", "v7", "qemu-arm-static")])
def test_arm_images_run_under_qemu(module: Path, registry: Registry, tmp_path: Path,
                                   arch: str, variant: str, qemu: str) -> None:
    ref = build(module, registry, "--platform=all")
    layout = tmp_path / "one"
    extra = ["--override-arch", arch] + (["--override-variant", variant] if variant else [])
    skopeo_copy(f"docker://{ref}", f"oci:{layout}:x", *extra)
    rootfs = umoci_unpack(f"{layout}:x", tmp_path / "bundle")
    proc = subprocess.run([qemu, str(rootfs / "ko-app/kodump")], capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "KO_DATA_PATH": str(rootfs / "var/run/ko")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"linux/{arch} says hello from kodata\n"


def test_amd64_image_from_the_index_runs(module: Path, registry: Registry,
                                         tmp_path: Path) -> None:
    ref = build(module, registry, "--platform=all")
    layout = tmp_path / "amd64"
    skopeo_copy(f"docker://{ref}", f"oci:{layout}:x", "--override-arch", "amd64")
    proc = run_to_completion(f"{layout}:x", tmp_path)
    assert proc.stdout == "linux/amd64 says hello from kodata\n", proc.stderr


def test_widening_the_platform_list_builds_only_the_new_platform(module: Path,
                                                                 registry: Registry) -> None:
    def dodo(platforms: list[str]) -> None:
        (module / "dodo.py").write_text(
            f"from kotasks import tasks\n\nglobals().update(tasks(platform={platforms!r}))\n")

    env = {"KO_DOCKER_REPO": f"{registry.host}/widen"}
    dodo(["linux/amd64", "linux/arm64"])
    first = run_doit(module, env=env).ok()
    assert "index:cmd/kodump" in first.executed
    dodo(["linux/amd64", "linux/arm64", "linux/arm/v7"])
    wider = run_doit(module, env=env).ok()
    assert sorted(wider.executed) == ["build:cmd/kodump", "gobuild:cmd/kodump@linux/arm/v7",
                                      "image:cmd/kodump@linux/arm/v7", "index:cmd/kodump",
                                      "layer:cmd/kodump@linux/arm/v7", "sbom:cmd/kodump",
                                      "sbom:cmd/kodump@linux/arm/v7"]
    mark = registry.mark()
    assert run_doit(module, env=env).ok().executed == []
    assert registry.requests_since(mark) == []


def test_kodata_layer_is_shared_by_linux_platforms(module: Path, registry: Registry) -> None:
    ref = build(module, registry, "--platform=linux")
    index = skopeo_raw(f"docker://{ref}")
    kodata_layers = set()
    for entry in index["manifests"]:
        name = ref.split("@")[0]
        manifest = json.loads(skopeo_raw_bytes(f"docker://{name}@{entry['digest']}"))
        kodata_layers.add(manifest["layers"][-2]["digest"])
    assert len(kodata_layers) == 1
