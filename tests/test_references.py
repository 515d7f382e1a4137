"""Image references as Docker and ko parse them, and the names ko gives images."""

from __future__ import annotations

import pytest

from kotasks.errors import UserError
from kotasks.naming import Naming, image_name
from kotasks.publish.registry import registry_reference
from kotasks.registry.reference import (
    allows_plain_http,
    parse_reference,
    parse_registry_or_repository,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("text", "registry", "path", "tag", "digest"), [
    ("ubuntu", "index.docker.io", "library/ubuntu", "latest", ""),
    ("docker.io/ubuntu:22.04", "index.docker.io", "library/ubuntu", "22.04", ""),
    ("user/app", "index.docker.io", "user/app", "latest", ""),
    ("gcr.io/distroless/static:nonroot", "gcr.io", "distroless/static", "nonroot", ""),
    ("localhost:5000/a/b", "localhost:5000", "a/b", "latest", ""),
    ("localhost/a", "localhost", "a", "latest", ""),
    (f"127.0.0.1:5000/x@{DIGEST}", "127.0.0.1:5000", "x", "", DIGEST),
    (f"reg.example/x:v1@{DIGEST}", "reg.example", "x", "v1", DIGEST),
])
def test_parse_reference(text: str, registry: str, path: str, tag: str, digest: str) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository.path, ref.tag, ref.digest) == (registry, path, tag,
                                                                         digest)


@pytest.mark.parametrize("text", ["", "UPPER/case", "a b", "x@sha256:nothex", "x:", "-bad",
                                  "reg.example/x:bad tag", " leading"])
def test_malformed_references_are_errors(text: str) -> None:
    with pytest.raises(UserError):
        parse_reference(text)


def test_docker_repo_may_be_a_registry_or_a_repository_but_not_a_tag() -> None:
    assert parse_registry_or_repository("gcr.io", "KO_DOCKER_REPO") == ("gcr.io", "")
    assert parse_registry_or_repository("localhost:5000", "KO_DOCKER_REPO") == (
        "localhost:5000", "")
    assert parse_registry_or_repository("user", "KO_DOCKER_REPO") == ("index.docker.io",
                                                                      "library/user")
    with pytest.raises(UserError, match="not a tagged reference"):
        parse_registry_or_repository("gcr.io/p/r:v1", "KO_DOCKER_REPO")


def test_plain_http_only_for_loopback() -> None:
    assert allows_plain_http("localhost:5000") and allows_plain_http("127.0.0.1:5000")
    assert allows_plain_http("[::1]:5000") and allows_plain_http("registry.localhost")
    assert not allows_plain_http("gcr.io") and not allows_plain_http("10.0.0.1:5000")


def test_md5_name_matches_kos_documented_example() -> None:
    name = image_name("registry.example.org/foo/bar", "example.org/sample/cmd/example",
                      Naming.MD5)
    assert name == "registry.example.org/foo/bar/example-51d74b7127c5f7495a338df33ecdeb19"


@pytest.mark.parametrize(("naming", "expected"), [
    (Naming.PRESERVE, "reg.example/repo/github.com/u/r/cmd/app"),
    (Naming.BASE, "reg.example/repo/app"),
    (Naming.BARE, "reg.example/repo"),
])
def test_other_namers(naming: Naming, expected: str) -> None:
    assert image_name("reg.example/repo", "github.com/u/r/cmd/app", naming) == expected


def test_printed_reference_forms() -> None:
    assert registry_reference("r/a", ["latest"], DIGEST, False) == f"r/a@{DIGEST}"
    assert registry_reference("r/a", ["v1"], DIGEST, False) == f"r/a:v1@{DIGEST}"
    assert registry_reference("r/a", ["v1", "v2"], DIGEST, False) == f"r/a@{DIGEST}"
    assert registry_reference("r/a", ["v1"], DIGEST, True) == "r/a:v1"
