"""Registry credentials: Basic and Bearer challenges, from Docker's config; never leaked."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.images import run
from tests.support.project import run_kotasks
from tests.support.registry import Registry, start_htpasswd_registry, start_registry
from tests.support.tokenserver import ISSUER, SERVICE, TokenServer, start_token_server

pytestmark = pytest.mark.slow

USER, PASSWORD = "kotasks-user", "s3cret-Pa55word"


def docker_config(directory: Path, host: str, user: str = USER,
                  password: str = PASSWORD) -> dict[str, str]:
    """Write a Docker config with credentials for ``host``; return the env that selects it."""
    directory.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (directory / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return {"DOCKER_CONFIG": str(directory)}


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = start_htpasswd_registry(tmp_path_factory.mktemp("basic"), USER, PASSWORD)
    yield reg
    reg.stop()


def _token_registry(tmp: Path, realm_host: str) -> tuple[Registry, TokenServer]:
    tokens = start_token_server(tmp / "tokens", USER, PASSWORD)
    realm = tokens.realm.replace("127.0.0.1", realm_host)
    reg = start_registry(tmp / "reg", auth={"token": {
        "realm": realm, "service": SERVICE, "issuer": ISSUER,
        "rootcertbundle": str(tokens.cert_path)}})
    return reg, tokens


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry,
                                                                            TokenServer]]:
    reg, tokens = _token_registry(tmp_path_factory.mktemp("token"), "127.0.0.1")
    yield reg, tokens
    reg.stop()
    tokens.stop()


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("kotasks: error:")]


def test_push_without_credentials_is_a_401_naming_the_registry(
        hello: Path, basic_registry: Registry, tmp_path: Path) -> None:
    env = {"KO_DOCKER_REPO": f"{basic_registry.host}/auth",
           "DOCKER_CONFIG": str(tmp_path / "empty")}
    failed = run_kotasks(hello, "build", "./cmd/app", env=env)
    assert failed.returncode != 0
    [line] = _error_lines(failed.stderr)
    assert basic_registry.host in line and "/auth/app-" in line
    assert "HTTP 401" in line and "UNAUTHORIZED" in line
    assert failed.stdout == ""

    env.update(docker_config(tmp_path / "docker", basic_registry.host))
    fixed = run_kotasks(hello, "build", "./cmd/app", env=env).ok()
    assert fixed.refs[0].startswith(f"{basic_registry.host}/auth/app-")
    run(["skopeo", "inspect", "--tls-verify=false", f"--creds={USER}:{PASSWORD}",
         f"docker://{fixed.refs[0]}"])


def test_wrong_password_is_reported_without_printing_it(
        hello: Path, basic_registry: Registry, tmp_path: Path) -> None:
    env = {"KO_DOCKER_REPO": f"{basic_registry.host}/auth",
           **docker_config(tmp_path / "docker", basic_registry.host, password="wrong-Pa55")}
    failed = run_kotasks(hello, "build", "./cmd/app", env=env)
    assert failed.returncode != 0
    assert "HTTP 401" in _error_lines(failed.stderr)[0]
    assert "wrong-Pa55" not in failed.stderr + failed.stdout
    encoded = base64.b64encode(f"{USER}:wrong-Pa55".encode()).decode()
    assert encoded not in failed.stderr + failed.stdout


def test_bearer_token_auth_pushes_with_credentials_from_docker_config(
        hello: Path, token_registry: tuple[Registry, TokenServer], tmp_path: Path) -> None:
    reg, tokens = token_registry
    env = {"KO_DOCKER_REPO": f"{reg.host}/bearer",
           **docker_config(tmp_path / "docker", reg.host)}
    result = run_kotasks(hello, "build", "./cmd/worker", env=env).ok()
    assert result.refs[0].startswith(f"{reg.host}/bearer/worker-")
    assert any(s["credentials"] and s["granted"] for s in tokens.seen)
    run(["skopeo", "inspect", "--tls-verify=false", f"--creds={USER}:{PASSWORD}",
         f"docker://{result.refs[0]}"])


def test_credentials_are_not_sent_to_a_plain_http_token_service_on_another_host(
        hello: Path, tmp_path: Path) -> None:
    reg, tokens = _token_registry(tmp_path, "localhost")
    try:
        env = {"KO_DOCKER_REPO": f"{reg.host}/bearer",
               **docker_config(tmp_path / "docker", reg.host)}
        failed = run_kotasks(hello, "build", "./cmd/worker", env=env)
        assert failed.returncode != 0
        assert tokens.seen, "the token service was never asked"
        assert not any(s["credentials"] for s in tokens.seen)
        assert "not sending credentials" in failed.stderr
    finally:
        reg.stop()
        tokens.stop()


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    from cryptography.hazmat.primitives import serialization

    from tests.support.tokenserver import self_signed

    work = tmp_path_factory.mktemp("tls")
    key, cert = self_signed("kotasks-registry")
    (work / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (work / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    reg = start_registry(work / "reg", tls=(work / "cert.pem", work / "key.pem"))
    yield reg
    reg.stop()


def test_self_signed_registry_needs_insecure_registry(hello: Path, tls_registry: Registry,
                                                      tmp_path: Path) -> None:
    env = {"KO_DOCKER_REPO": f"{tls_registry.host}/tls"}
    failed = run_kotasks(hello, "build", "./cmd/worker", env=env)
    [line] = _error_lines(failed.stderr)
    assert tls_registry.host in line and "certificate verify failed" in line
    ok = run_kotasks(hello, "build", "./cmd/worker", "--insecure-registry", env=env).ok()
    run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ok.refs[0]}"])


def test_base_image_is_pulled_with_bearer_credentials(
        hello: Path, token_registry: tuple[Registry, TokenServer], tmp_path: Path) -> None:
    from tests.support.images import write_base_layout

    reg, _tokens = token_registry
    layout = write_base_layout(tmp_path / "base")
    run(["skopeo", "copy", "--dest-tls-verify=false", f"--dest-creds={USER}:{PASSWORD}",
         layout.ref, f"docker://{reg.host}/private/base:latest"])
    (hello / ".ko.yaml").write_text(f"defaultBaseImage: {reg.host}/private/base\n")
    env = {"KO_DOCKER_REPO": f"{reg.host}/withbase",
           **docker_config(tmp_path / "docker", reg.host)}
    result = run_kotasks(hello, "build", "./cmd/worker", env=env).ok()
    manifest = json.loads(run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                               f"--creds={USER}:{PASSWORD}",
                               f"docker://{result.refs[0]}"]).stdout)
    assert len(manifest["layers"]) == 3
    assert manifest["annotations"]["org.opencontainers.image.base.name"] == (
        f"{reg.host}/private/base:latest")
