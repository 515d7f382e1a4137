"""Platform specs, ko's matching rules, variant → GOARM/GOAMD64, and odd base indexes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kotasks.baseimage import BaseRecord, base_platforms
from kotasks.errors import ImageError, UserError
from kotasks.gobuild.toolchain import goarm_goamd64
from kotasks.oci.descriptor import Platform
from kotasks.oci.layout import Layout
from kotasks.platform import (
    PlatformSelection,
    PlatformSpec,
    parse_platform,
    select_entries,
    select_platforms,
)

ENTRIES = [Platform("linux", "amd64"), Platform("linux", "arm64"),
           Platform("linux", "arm", "v7"), Platform("windows", "amd64", "", "10.0.17763.1234"),
           Platform("unknown", "unknown"), None]


def sel(*specs: str) -> PlatformSelection:
    return select_platforms(list(specs), [], "", {})


@pytest.mark.parametrize(("specs", "chosen"), [
    (("all",), [0, 1, 2, 3, 5]),
    (("linux",), [0, 1, 2]),
    (("linux/arm",), [2]),
    (("linux/arm/v6",), []),
    (("windows/amd64:10.0.17763",), [3]),
    (("windows/amd64:10.0.17763.1234",), [3]),
    (("windows/amd64:10.0",), []),
    (("linux/amd64", "linux/arm64"), [0, 1]),
])
def test_matching_against_a_base_index(specs: tuple[str, ...], chosen: list[int]) -> None:
    if not chosen:
        with pytest.raises(UserError, match="offers linux/amd64, linux/arm64"):
            select_entries(sel(*specs), ENTRIES, "base")
    else:
        assert select_entries(sel(*specs), ENTRIES, "base") == chosen


def test_os_version_prefix_rule_is_only_for_windows() -> None:
    assert not PlatformSpec("linux", "amd64", "", "1.2.3").matches(
        Platform("linux", "amd64", "", "1.2.3.4"))


@pytest.mark.parametrize(("text", "expected"), [
    ("linux", PlatformSpec("linux")),
    ("linux/arm/v7", PlatformSpec("linux", "arm", "v7")),
    ("windows/amd64:10.0.17763", PlatformSpec("windows", "amd64", "", "10.0.17763")),
])
def test_parse_platform(text: str, expected: PlatformSpec) -> None:
    assert parse_platform(text, "--platform") == expected
    assert str(expected) == text


@pytest.mark.parametrize("text", ["", "a/b/c/d", "linux/amd64:", "linux amd64"])
def test_bad_platforms(text: str) -> None:
    with pytest.raises(UserError, match="--platform"):
        parse_platform(text, "--platform")


def test_selection_order_flag_config_goos_default() -> None:
    assert str(select_platforms(["linux/arm64"], ["linux/s390x"], "cfg", {})) == "linux/arm64"
    assert str(select_platforms([], ["linux/s390x,linux/ppc64le"], "cfg", {})) == (
        "linux/s390x,linux/ppc64le")
    env = {"GOOS": "linux", "GOARCH": "arm", "GOARM": "6"}
    assert str(select_platforms([], [], "cfg", env)) == "linux/arm/v6"
    assert str(select_platforms([], [], "cfg", {"GOOS": "linux"})) == "linux/amd64"
    with pytest.raises(UserError, match="GOARM"):
        select_platforms([], ["linux/arm64"], "cfg", {"GOARM": ""})


@pytest.mark.parametrize(("platform", "env"), [
    (Platform("linux", "arm", "v7"), {"GOARM": "7"}),
    (Platform("linux", "arm", "v5"), {"GOARM": "5"}),
    (Platform("linux", "arm", "v8"), {"GOARM": "7"}),
    (Platform("linux", "arm", "v4"), {}),
    (Platform("linux", "amd64", "v3"), {"GOAMD64": "v3"}),
    (Platform("linux", "arm64", "v8"), {}),
])
def test_variants_become_goarm_or_goamd64(platform: Platform, env: dict[str, str]) -> None:
    assert goarm_goamd64(platform) == env


def test_a_non_numeric_arm_variant_is_an_error() -> None:
    with pytest.raises(UserError, match="vN"):
        goarm_goamd64(Platform("linux", "arm", "hard"))


def test_a_nested_index_in_the_base_is_an_error(tmp_path: Path) -> None:
    store = Layout(tmp_path / "store").ensure()
    inner = store.put(json.dumps({"schemaVersion": 2, "manifests": []}).encode())
    outer = store.put(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                       "digest": inner, "size": 10}]}).encode())
    record = BaseRecord("reg.example/base", "reg.example/base:latest", "reg.example", "base",
                        outer, "application/vnd.oci.image.index.v1+json")
    with pytest.raises(ImageError, match="nested index"):
        base_platforms(store, record)
