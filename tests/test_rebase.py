"""Rebasing: when the lock moves a base, images are re-assembled on it without compiling or
compressing anything, uploading only configs and manifests, byte-identical to a build from
scratch on the new base."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.support.images import push_base, skopeo_raw, write_base_layout
from tests.support.project import copy_module, run_kotasks
from tests.support.registry import Registry
from tests.support.workspace import counting_go, go_builds, write_workspace

pytestmark = pytest.mark.slow

IMAGES = [f"./cmd/app{i}" for i in range(10)]
PLATFORMS = [{"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64"},
             {"os": "linux", "architecture": "arm", "variant": "v7"}]


def blob_puts(registry: Registry, mark: int) -> list[str]:
    """The digests of the blobs uploaded after ``mark`` (an upload ends with a PUT)."""
    return [m.group(1) for line in registry.requests_since(mark)
            if (m := re.search(r'"PUT /v2/\S+/blobs/uploads/\S*digest=(sha256(?::|%3A)[0-9a-f]+)',
                               line))]


def layer_digests(ref: str) -> set[str]:
    raw = skopeo_raw(f"docker://{ref}")
    manifests = [skopeo_raw(f"docker://{ref.split('@')[0]}@{m['digest']}")
                 for m in raw["manifests"]] if "manifests" in raw else [raw]
    return {layer["digest"] for m in manifests for layer in m["layers"]}


def test_rebase_of_ten_images_compiles_and_compresses_nothing(
        tmp_path: Path, registry: Registry) -> None:
    base = push_base(write_base_layout(tmp_path / "base1"), registry.host, "rebase", "v1")
    root = write_workspace(tmp_path / "ws", serve=False)
    (root / ".ko.yaml").write_text(f"defaultBaseImage: {base}\n")
    pristine = copy_module(root, tmp_path / "pristine")
    wrapper, calls = counting_go(tmp_path)
    env = {"KO_DOCKER_REPO": f"{registry.host}/rebased", "KO_GO_PATH": str(wrapper)}
    run_kotasks(root, "lock").ok()
    before = run_kotasks(root, "build", *IMAGES, env=env).ok().refs

    push_base(write_base_layout(tmp_path / "base2", marker="security fix"), registry.host,
              "rebase", "v1")
    calls.unlink()
    mark = registry.mark()
    rebased = run_kotasks(root, "rebase", env=env).ok()
    assert go_builds(calls) == []
    # not even `go version -m` for the SBOMs (remembered); the one call is the wrapper's
    # toolchain version (a wrapper has no GOROOT/VERSION beside it)
    assert calls.read_text().split("\t")[1:] == ["env GOVERSION\n"]
    assert not rebased.ran("layer:") and not rebased.ran("gobuild:")
    assert len(rebased.refs) == 10 and set(rebased.refs).isdisjoint(before)
    layers = set().union(*(layer_digests(ref) for ref in rebased.refs))
    uploaded = {d.replace("%3A", ":") for d in blob_puts(registry, mark)}
    assert uploaded and not uploaded & layers  # configs (and SBOMs), never a layer

    # the same images as a build from scratch on the new base
    run_kotasks(pristine, "lock").ok()
    scratch = run_kotasks(pristine, "build", *IMAGES, env=env).ok().refs
    assert sorted(scratch) == sorted(rebased.refs)

    again = run_kotasks(root, "rebase", env=env).ok()
    assert again.refs == [] and "no base image moved" in again.stderr


def test_a_base_moved_for_one_platform_of_three(tmp_path: Path, registry: Registry) -> None:
    base = push_base(write_base_layout(tmp_path / "base1", platforms=PLATFORMS),
                     registry.host, "rebase3", "v1")
    root = write_workspace(tmp_path / "ws", packages=1, serve=False)
    (root / ".ko.yaml").write_text(f"defaultBaseImage: {base}\n"
                                   "defaultPlatforms: [linux/amd64, linux/arm64, linux/arm/v7]\n")
    env = {"KO_DOCKER_REPO": f"{registry.host}/rebased3"}
    run_kotasks(root, "lock").ok()
    (before,) = run_kotasks(root, "build", "./cmd/app0", env=env).ok().refs
    moved = [dict(p) for p in PLATFORMS]
    moved[1]["marker"] = "arm64 fix"
    push_base(write_base_layout(tmp_path / "base2", platforms=moved), registry.host,
              "rebase3", "v1")
    (after,) = run_kotasks(root, "rebase", env=env).ok().refs
    assert after != before
    old = skopeo_raw(f"docker://{before}")["manifests"]
    new = skopeo_raw(f"docker://{after}")["manifests"]
    changed = [n["platform"]["architecture"] for o, n in zip(old, new, strict=True)
               if o["digest"] != n["digest"]]
    assert changed == ["arm64"]
    shutil.rmtree(root / ".kotasks")
    assert run_kotasks(root, "build", "./cmd/app0", env=env).ok().refs == [after]
