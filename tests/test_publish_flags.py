"""ko's publishing flags: tags, tag-only, push=false, naming modes, an extra OCI layout."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.support.images import run, skopeo_raw
from tests.support.project import run_doit, run_kotasks
from tests.support.registry import Registry

pytestmark = pytest.mark.slow

APP = "example.com/hello/cmd/app"
MD5 = hashlib.md5(APP.encode()).hexdigest()
DIGEST = r"sha256:[0-9a-f]{64}"


def tags_of(name: str) -> list[str]:
    out = run(["skopeo", "list-tags", "--tls-verify=false", f"docker://{name}"]).stdout
    return sorted(t for t in json.loads(out)["Tags"] if not t.endswith(".sbom"))


def test_single_tag_is_printed_with_the_digest(hello: Path, registry: Registry) -> None:
    repo = f"{registry.host}/flags1"
    [ref] = run_kotasks(hello, "build", "./cmd/app", "-t", "v1",
                        env={"KO_DOCKER_REPO": repo}).ok().refs
    assert re.fullmatch(rf"{re.escape(repo)}/app-{MD5}:v1@{DIGEST}", ref)
    assert tags_of(f"{repo}/app-{MD5}") == ["v1"]


def test_several_tags_are_all_pushed(hello: Path, registry: Registry) -> None:
    repo = f"{registry.host}/flags2"
    [ref] = run_kotasks(hello, "build", "./cmd/app", "-t", "a,b", "--tags", "c", "-t", "a",
                        env={"KO_DOCKER_REPO": repo}).ok().refs
    assert re.fullmatch(rf"{re.escape(repo)}/app-{MD5}@{DIGEST}", ref)
    assert tags_of(f"{repo}/app-{MD5}") == ["a", "b", "c"]


def test_tag_only(hello: Path, registry: Registry) -> None:
    repo = f"{registry.host}/flags3"
    [ref] = run_kotasks(hello, "build", "./cmd/app", "--tag-only", "-t", "v2",
                        env={"KO_DOCKER_REPO": repo}).ok().refs
    assert ref == f"{repo}/app-{MD5}:v2"
    failed = run_kotasks(hello, "build", "./cmd/app", "--tag-only",
                         env={"KO_DOCKER_REPO": repo})
    assert failed.returncode != 0 and "--tag-only" in failed.stderr


def test_push_false_computes_the_reference_without_publishing(hello: Path,
                                                              registry: Registry) -> None:
    repo = f"{registry.host}/flags4"
    mark = registry.mark()
    [ref] = run_kotasks(hello, "build", "./cmd/app", "--push=false",
                        env={"KO_DOCKER_REPO": repo}).ok().refs
    assert re.fullmatch(rf"{re.escape(repo)}/app-{MD5}:latest@{DIGEST}", ref)
    assert registry.requests_since(mark) == []
    assert not (hello / ".kotasks/oci/index.json").exists() or json.loads(
        (hello / ".kotasks/oci/index.json").read_text())["manifests"] == []


@pytest.mark.parametrize(("flag", "suffix"), [("-P", f"/{APP}"), ("-B", "/app"), ("--bare", "")])
def test_naming_flags(hello: Path, registry: Registry, flag: str, suffix: str) -> None:
    repo = f"{registry.host}/naming{flag.strip('-').lower()}"
    [ref] = run_kotasks(hello, "build", "./cmd/app", flag, env={"KO_DOCKER_REPO": repo}).ok().refs
    assert re.fullmatch(rf"{re.escape(repo + suffix)}@{DIGEST}", ref)
    skopeo_raw(f"docker://{ref}")


def test_oci_layout_path_alongside_a_push(hello: Path, registry: Registry,
                                          tmp_path: Path) -> None:
    repo = f"{registry.host}/flags5"
    layout = tmp_path / "layout"
    [ref] = run_kotasks(hello, "build", "./cmd/app", "--oci-layout-path", str(layout),
                        env={"KO_DOCKER_REPO": repo}).ok().refs
    assert ref.startswith(f"{repo}/app-{MD5}@")
    raw = skopeo_raw(f"oci:{layout}:app-{MD5}:latest")
    assert raw == skopeo_raw(f"docker://{ref}")


def test_kotasks_and_doit_share_their_state(hello: Path, registry: Registry) -> None:
    env = {"KO_DOCKER_REPO": f"{registry.host}/shared"}
    built = run_kotasks(hello, "build", "./cmd/app", env=env).ok()
    again = run_doit(hello, "build:cmd/app", env=env).ok()
    assert again.executed == [] and again.refs == built.refs
