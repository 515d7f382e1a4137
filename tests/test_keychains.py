"""ko's built-in keychains after the Docker config: each serves only its own hosts, takes
credentials from where its tools keep them, and says how to enable it on a 401."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from kotasks.registry.auth import Keychain
from kotasks.registry.credentials import Credentials
from kotasks.registry.keychains import KEYCHAINS, cloud_credentials, hint

SERVED = {
    "GitHub": ["ghcr.io"],
    "Google": ["gcr.io", "eu.gcr.io", "us-docker.pkg.dev", "europe-west1-docker.pkg.dev"],
    "Amazon ECR": ["123456789012.dkr.ecr.eu-west-1.amazonaws.com", "public.ecr.aws",
                   "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"],
    "Azure ACR": ["myregistry.azurecr.io"],
}
NOBODYS = ["docker.io", "index.docker.io", "localhost:5000", "127.0.0.1:5000", "ghcr.io.evil",
           "gcr.io.example.com", "evil-gcr.io", "pkg.dev", "azurecr.io", "dkr.ecr.amazonaws.com",
           "quay.io"]


@pytest.mark.parametrize(("name", "host"), [(n, h) for n, hs in SERVED.items() for h in hs])
def test_each_keychain_serves_its_hosts(name: str, host: str) -> None:
    assert [k.name for k in KEYCHAINS if k.serves(host)] == [name]


@pytest.mark.parametrize("host", NOBODYS)
def test_no_keychain_serves_other_hosts(host: str) -> None:
    assert not [k.name for k in KEYCHAINS if k.serves(host)]


def test_github_token_goes_to_ghcr_only() -> None:
    env = {"GITHUB_TOKEN": "ghp_secret", "GITHUB_ACTOR": "octo"}
    assert cloud_credentials("ghcr.io", env) == Credentials("octo", "ghp_secret")
    assert cloud_credentials("ghcr.io", {"GITHUB_TOKEN": "t"}) == Credentials("unset", "t")
    assert cloud_credentials("ghcr.io", {}) is None
    for host in NOBODYS:
        assert cloud_credentials(host, env) is None


def script(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!{sys.executable}\nimport json, sys\n{body}\n")
    path.chmod(0o755)


def test_cloud_helpers_on_path(tmp_path: Path) -> None:
    log = tmp_path / "asked.log"
    for helper in ("gcloud", "ecr-login", "acr-env"):
        script(tmp_path, f"docker-credential-{helper}",
               f"server = sys.stdin.read()\nopen({str(log)!r}, 'a').write("
               f"{helper!r} + ' ' + sys.argv[1] + ' ' + server + '\\n')\n"
               f"print(json.dumps({{'Username': '{helper}-user', 'Secret': 'from-{helper}'}}))")
    env = {"PATH": str(tmp_path)}
    assert cloud_credentials("us-docker.pkg.dev", env) == Credentials("gcloud-user",
                                                                     "from-gcloud")
    assert cloud_credentials("public.ecr.aws", env) == Credentials("ecr-login-user",
                                                                  "from-ecr-login")
    assert cloud_credentials("x.azurecr.io", env) == Credentials("acr-env-user", "from-acr-env")
    assert log.read_text().splitlines() == ["gcloud get us-docker.pkg.dev",
                                            "ecr-login get public.ecr.aws",
                                            "acr-env get x.azurecr.io"]


def test_gcloud_access_token_when_there_is_no_helper(tmp_path: Path) -> None:
    script(tmp_path, "gcloud", "assert sys.argv[1:] == ['auth', 'print-access-token']\n"
                               "print('ya29.token')")
    assert cloud_credentials("gcr.io", {"PATH": str(tmp_path)}) == Credentials(
        "oauth2accesstoken", "ya29.token")
    assert cloud_credentials("gcr.io", {"PATH": str(tmp_path / "nothing")}) is None


def test_the_docker_config_comes_first_and_lookups_are_cached(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {"ghcr.io": {"auth": "dTpw"}}}))  # u:p
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    keychain = Keychain(config)
    assert keychain.resolve("ghcr.io") == Credentials("u", "p")
    config.write_text("{}")
    assert keychain.resolve("ghcr.io") == Credentials("u", "p")  # once per run
    assert Keychain(config).resolve("ghcr.io") == Credentials("unset", "ghp_secret")


def test_a_401_says_which_keychain_could_serve() -> None:
    assert hint("ghcr.io") == "the GitHub keychain serves ghcr.io: set GITHUB_TOKEN"
    assert "docker-credential-gcloud" in hint("eu.gcr.io")
    assert hint("localhost:5000") == ""
