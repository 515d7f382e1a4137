"""The built-in keychains reach their clouds' registries with nothing but the cloud's own
credentials in the environment and no helper binary: each registry is really reached under
the cloud's host name (a private ``/etc/hosts`` in a mount namespace), over TLS from a test
CA, behind a token service that grants push only to what the cloud's SDK produced. No test
contacts a cloud: the ECR API is moto's server, the identity services are our own
endpoints on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.cloudhosts import (
    CloudCA,
    CloudRegistry,
    in_the_cloud,
    make_ca,
    run_kotasks_as_in_the_cloud,
    start_cloud_registry,
)
from tests.support.images import run
from tests.support.oauth import start_token_endpoint
from tests.support.project import Result

pytestmark = pytest.mark.slow

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
GCR = "gcr.io"
ACR = "myreg.azurecr.io"
GHCR = "ghcr.io"
LOGIN = "login.kotasks.test"
#: the audience Google's token endpoint wants in a service account's assertion
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
WITHOUT = Path(__file__).parent / "support" / "without"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CloudCA:
    return make_ca(tmp_path_factory.mktemp("ca"), (ECR, GCR, ACR, GHCR, LOGIN))


@pytest.fixture
def cloud(tmp_path: Path, ca: CloudCA) -> Iterator[list[CloudRegistry]]:
    """Registries the test starts (``start_cloud_registry``); stopped after it."""
    started: list[CloudRegistry] = []
    yield started
    for registry in started:
        registry.stop()


def isolated(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No credentials from this machine: an empty Docker config, no AWS files or instance
    metadata, no gcloud configuration or metadata server."""
    (tmp_path / "docker").mkdir(exist_ok=True)
    return {"DOCKER_CONFIG": str(tmp_path / "docker"),
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true", "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
            "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9",
            "GITHUB_TOKEN": "", **extra}


def without(*modules: str) -> dict[str, str]:
    """The environment of a child in which ``modules`` (an extra's SDK) cannot be imported."""
    return {"PYTHONPATH": str(WITHOUT), "KOTASKS_TEST_WITHOUT": ",".join(modules)}


def readable(ca: CloudCA, ref: str, user: str, password: str) -> None:
    """skopeo, under the same names, reads the pushed image with the cloud's credentials."""
    run(in_the_cloud(ca, ["skopeo", "inspect", "--tls-verify=false",
                          f"--creds={user}:{password}", f"docker://{ref}"]))


def last_line(result: Result) -> str:
    return result.stderr.rstrip().splitlines()[-1]


# -- Amazon ECR ------------------------------------------------------------------------------

ECR_USER, ECR_PASSWORD = "AWS", "123456789012-auth-token"  # what moto's ECR hands out


@pytest.fixture(scope="module")
def moto_ecr() -> Iterator[str]:
    """moto's server on 127.0.0.1 as the ECR API; its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def aws_keys(endpoint: str) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": "AKIAKOTASKSTEST0000", "AWS_SECRET_ACCESS_KEY": "not-a-secret",
            "AWS_ENDPOINT_URL_ECR": endpoint}


def test_ecr_with_nothing_but_aws_keys(hello: Path, ca: CloudCA, cloud: list[CloudRegistry],
                                       moto_ecr: str, tmp_path: Path) -> None:
    cloud.append(start_cloud_registry(tmp_path / "ecr", ca, ECR, ECR_USER, ECR_PASSWORD))
    registry = cloud[0]
    env = isolated(tmp_path, KO_DOCKER_REPO=f"{registry.host}/team", **aws_keys(moto_ecr))
    result = run_kotasks_as_in_the_cloud(hello, ca, "build", "--sbom=none", "./cmd/worker",
                                         env=env).ok()
    [ref] = result.refs
    assert ref.startswith(f"{registry.host}/team/worker-")
    assert any(s["credentials"] and s["granted"] for s in registry.tokens.seen)
    readable(ca, ref, ECR_USER, ECR_PASSWORD)


def test_ecr_with_a_ci_web_identity_token(hello: Path, ca: CloudCA, cloud: list[CloudRegistry],
                                          moto_ecr: str, tmp_path: Path) -> None:
    # what an OIDC CI job has: a role and a token file, no keys (moto's STS assumes the role)
    cloud.append(start_cloud_registry(tmp_path / "ecr", ca, ECR, ECR_USER, ECR_PASSWORD))
    (tmp_path / "oidc.jwt").write_text("eyJhbGciOiJub25lIn0.eyJzdWIiOiJjaSJ9.")
    env = isolated(tmp_path, KO_DOCKER_REPO=f"{cloud[0].host}/team",
                   AWS_ROLE_ARN="arn:aws:iam::123456789012:role/ci",
                   AWS_WEB_IDENTITY_TOKEN_FILE=str(tmp_path / "oidc.jwt"),
                   AWS_ENDPOINT_URL_ECR=moto_ecr, AWS_ENDPOINT_URL_STS=moto_ecr)
    result = run_kotasks_as_in_the_cloud(hello, ca, "build", "--sbom=none", "./cmd/worker",
                                         env=env).ok()
    readable(ca, result.refs[0], ECR_USER, ECR_PASSWORD)


def test_ecr_without_credentials_says_what_to_set(hello: Path, ca: CloudCA,
                                                  cloud: list[CloudRegistry],
                                                  tmp_path: Path) -> None:
    cloud.append(start_cloud_registry(tmp_path / "ecr", ca, ECR, ECR_USER, ECR_PASSWORD))
    env = isolated(tmp_path, KO_DOCKER_REPO=f"{cloud[0].host}/team")
    line = last_line(run_kotasks_as_in_the_cloud(hello, ca, "build", "--sbom=none",
                                                 "./cmd/worker", env=env))
    assert "HTTP 401" in line and "the Amazon ECR keychain serves" in line
    assert "no AWS credentials found: set AWS_ACCESS_KEY_ID" in line
    assert "docker-credential-ecr-login" in line


def test_ecr_without_the_extra_uses_the_helper_or_says_to_install_it(
        hello: Path, ca: CloudCA, cloud: list[CloudRegistry], moto_ecr: str,
        tmp_path: Path) -> None:
    cloud.append(start_cloud_registry(tmp_path / "ecr", ca, ECR, ECR_USER, ECR_PASSWORD))
    env = isolated(tmp_path, KO_DOCKER_REPO=f"{cloud[0].host}/team", **aws_keys(moto_ecr),
                   **without("boto3", "botocore"))
    line = last_line(run_kotasks_as_in_the_cloud(hello, ca, "build", "--sbom=none",
                                                 "./cmd/worker", env=env))
    assert "HTTP 401" in line and "pip install 'kotasks[aws]'" in line
    helpers = tmp_path / "bin"
    helpers.mkdir()
    helper = helpers / "docker-credential-ecr-login"
    helper.write_text("#!/bin/sh\nread server\n"
                      f"echo '{{\"Username\": \"{ECR_USER}\", \"Secret\": \"{ECR_PASSWORD}\"}}'\n")
    helper.chmod(0o755)
    env["PATH"] = f"{helpers}:{os.environ['PATH']}"
    run_kotasks_as_in_the_cloud(hello, ca, "build", "--sbom=none", "./cmd/worker",
                                env=env).ok()


# -- Google ----------------------------------------------------------------------------------

def service_account(tmp_path: Path, token_uri: str) -> tuple[Path, rsa.RSAPrivateKey]:
    """A service-account key file whose token_uri is ours."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "kotasks-test", "private_key_id": "k1",
        "private_key": pem, "client_email": "pusher@kotasks-test.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": token_uri}))
    return path, key


def test_google_application_default_credentials(hello: Path, ca: CloudCA,
                                                cloud: list[CloudRegistry],
                                                tmp_path: Path) -> None:
    access = f"ya29.{secrets.token_urlsafe(16)}"
    keys: list[rsa.RSAPrivateKey] = []

    def grant(path: str, form: dict[str, str]) -> str | None:
        # what Google's token endpoint checks: a JWT bearer grant signed by the account's key
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return None
        try:
            claims = jwt.decode(form.get("assertion", ""), keys[0].public_key(),
                                algorithms=["RS256"], audience=GOOGLE_TOKEN_AUDIENCE)
        except jwt.InvalidTokenError:
            return None
        ok = claims["iss"] == "pusher@kotasks-test.iam.gserviceaccount.com" and \
            "cloud-platform" in claims.get("scope", "")
        return access if ok else None

    endpoint = start_token_endpoint(grant)
    try:
        path, key = service_account(tmp_path, endpoint.url + "/token")
        keys.append(key)
        cloud.append(start_cloud_registry(tmp_path / "gcr", ca, GCR, "oauth2accesstoken",
                                          access))
        env = isolated(tmp_path, KO_DOCKER_REPO=f"{cloud[0].host}/kotasks-test",
                       GOOGLE_APPLICATION_CREDENTIALS=str(path))
        result = run_kotasks_as_in_the_cloud(hello, ca, "build", "--sbom=none",
                                             "./cmd/worker", env=env).ok()
        assert endpoint.asked == ["/token"]  # one token for the run
        readable(ca, result.refs[0], "oauth2accesstoken", access)
        line = last_line(run_kotasks_as_in_the_cloud(
            hello, ca, "build", "--sbom=none", "./cmd/app", env={
                **env, "GOOGLE_APPLICATION_CREDENTIALS": "", **without("google")}))
        assert "HTTP 401" in line and "pip install 'kotasks[google]'" in line
    finally:
        endpoint.stop()


# -- GitHub ----------------------------------------------------------------------------------

def test_github_token_goes_to_ghcr_and_nowhere_else(hello: Path, ca: CloudCA,
                                                    cloud: list[CloudRegistry],
                                                    tmp_path: Path) -> None:
    token = f"ghp_{secrets.token_urlsafe(20)}"
    cloud.append(start_cloud_registry(tmp_path / "base", ca, LOGIN, "baker", "base-pw"))
    cloud.append(start_cloud_registry(tmp_path / "ghcr", ca, GHCR, "octo", token))
    base, ghcr = cloud
    config = tmp_path / "base-config"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"auths": {base.host: {
        "auth": base64.b64encode(b"baker:base-pw").decode()}}}))
    pushed = run_kotasks_as_in_the_cloud(hello, ca, "build", "--sbom=none", "./cmd/worker",
                                         env=isolated(tmp_path, DOCKER_CONFIG=str(config),
                                                      KO_DOCKER_REPO=f"{base.host}/base")).ok()
    (hello / ".ko.yaml").write_text(f"defaultBaseImage: {pushed.refs[0]}\n")
    shutil.rmtree(hello / ".kotasks")  # the base's blobs come from its registry, not the store
    mark = len(base.tokens.seen)
    env = isolated(tmp_path, KO_DOCKER_REPO=f"{ghcr.host}/octo", GITHUB_TOKEN=token,
                   GITHUB_ACTOR="octo")
    result = run_kotasks_as_in_the_cloud(hello, ca, "build", "--sbom=none", "./cmd/app",
                                         env=env).ok()
    assert base.tokens.seen[mark:], "the base image was not read from its registry"
    assert not any(s["credentials"] for s in base.tokens.seen[mark:])
    assert any(s["credentials"] and s["granted"] for s in ghcr.tokens.seen)
    readable(ca, result.refs[0], "octo", token)


# -- Azure -----------------------------------------------------------------------------------

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "0d3a2c51-7c5b-4b39-9f6b-6b0d5f0f7a11"
ACR_USER = "00000000-0000-0000-0000-000000000000"


def test_acr_with_a_client_secret(hello: Path, ca: CloudCA, cloud: list[CloudRegistry],
                                  tmp_path: Path) -> None:
    secret, entra = secrets.token_urlsafe(12), f"entra.{secrets.token_urlsafe(16)}"
    refresh = f"acr-refresh.{secrets.token_urlsafe(16)}"

    def grant(path: str, form: dict[str, str]) -> str | None:
        # what Entra ID checks of a client-credentials grant
        ok = (path == f"/{TENANT}/oauth2/v2.0/token"
              and form.get("grant_type") == "client_credentials"
              and form.get("client_id") == CLIENT and form.get("client_secret") == secret
              and form.get("scope") == "https://management.azure.com/.default")
        return entra if ok else None

    def openid(base: str) -> dict[str, object]:
        return {"issuer": f"{base}/{TENANT}/v2.0",
                "token_endpoint": f"{base}/{TENANT}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/devicecode"}

    exchanged: list[dict[str, str]] = []

    def exchange(form: dict[str, str]) -> tuple[int, dict[str, object]]:
        # what ACR checks: an Entra ID token for this registry
        exchanged.append(form)
        if form.get("grant_type") == "access_token" and form.get("access_token") == entra \
                and form.get("service") == ACR:
            return 200, {"refresh_token": refresh}
        return 401, {"errors": [{"code": "UNAUTHORIZED"}]}

    endpoint = start_token_endpoint(grant, tls=(ca.cert, ca.key), host=LOGIN, documents={
        f"/{TENANT}/v2.0/.well-known/openid-configuration": openid})
    try:
        cloud.append(start_cloud_registry(tmp_path / "acr", ca, ACR, ACR_USER, refresh,
                                          routes={"/oauth2/exchange": exchange}))
        env = isolated(tmp_path, KO_DOCKER_REPO=f"{cloud[0].host}/app",
                       AZURE_CLIENT_ID=CLIENT, AZURE_TENANT_ID=TENANT,
                       AZURE_CLIENT_SECRET=secret, AZURE_AUTHORITY_HOST=endpoint.url)
        result = run_kotasks_as_in_the_cloud(hello, ca, "build", "--sbom=none",
                                             "./cmd/worker", env=env).ok()
        assert endpoint.asked and len(exchanged) == 1 and exchanged[0].get("tenant") == TENANT
        assert any(s["credentials"] and s["granted"] for s in cloud[0].tokens.seen)
        readable(ca, result.refs[0], ACR_USER, refresh)
        line = last_line(run_kotasks_as_in_the_cloud(
            hello, ca, "build", "--sbom=none", "./cmd/app", env={**env, **without("azure")}))
        assert "HTTP 401" in line and "pip install 'kotasks[azure]'" in line
    finally:
        endpoint.stop()
