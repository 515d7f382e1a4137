"""``kotasks login`` / ``logout`` against a real registry with htpasswd auth: the stored
credentials are what a push then uses; a credential helper gets the secret on stdin and the
config file never sees it."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kotasks.registry.login import server_key
from tests.support.project import build_env, run_kotasks
from tests.support.registry import Registry, start_htpasswd_registry

pytestmark = pytest.mark.slow

USER, PASSWORD = "login-user", "l0gin-Pa55word"


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = start_htpasswd_registry(tmp_path_factory.mktemp("login"), USER, PASSWORD)
    yield reg
    reg.stop()


def login(cwd: Path, env: dict[str, str], *args: str, stdin: str = ""
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kotasks", "login", *args], cwd=cwd,
                          env=build_env(env), input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_login_then_push_then_logout(hello: Path, locked: Registry, tmp_path: Path) -> None:
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps(
        {"auths": {"other.example:5000": {"auth": "eDp5"}}, "psFormat": "table"}))
    env = {"DOCKER_CONFIG": str(config_dir), "KO_DOCKER_REPO": f"{locked.host}/login"}
    denied = run_kotasks(hello, "build", "./cmd/worker", env=env)
    assert denied.returncode != 0 and "HTTP 401" in denied.stderr
    done = login(hello, env, locked.host, "-u", USER, "--password-stdin",
                 stdin=PASSWORD + "\r\n")
    assert done.returncode == 0, done.stderr
    path = config_dir / "config.json"
    assert done.stderr.strip() == f"logged in via {path}"
    assert PASSWORD not in done.stdout + done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = json.loads(path.read_text())
    assert config["psFormat"] == "table" and "other.example:5000" in config["auths"]
    run_kotasks(hello, "build", "./cmd/worker", env=env).ok()
    out = subprocess.run([sys.executable, "-m", "kotasks", "logout", locked.host], cwd=hello,
                         env=build_env(env), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and locked.host not in json.loads(path.read_text())["auths"]
    assert "other.example:5000" in json.loads(path.read_text())["auths"]


def test_a_credential_helper_gets_the_secret(hello: Path, locked: Registry,
                                             tmp_path: Path) -> None:
    bin_dir, store = tmp_path / "bin", tmp_path / "helper-store.json"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-kotest"
    # a docker-credential helper: store/get/erase, JSON on stdin, kept in a file
    helper.write_text(f"""#!{sys.executable}
import json, sys
path = {str(store)!r}
try:
    data = json.load(open(path))
except FileNotFoundError:
    data = {{}}
action, text = sys.argv[1], sys.stdin.read()
if action == "store":
    entry = json.loads(text); data[entry["ServerURL"]] = entry
elif action == "get":
    if text.strip() not in data:
        print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps(data[text.strip()]))
elif action == "erase":
    data.pop(text.strip(), None)
json.dump(data, open(path, "w"))
""")
    helper.chmod(0o755)
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps({"credsStore": "kotest"}))
    env = {"DOCKER_CONFIG": str(config_dir), "KO_DOCKER_REPO": f"{locked.host}/helper",
           "PATH": f"{bin_dir}:{build_env()['PATH']}"}
    done = login(hello, env, locked.host, "-u", USER, "-p", PASSWORD)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in (config_dir / "config.json").read_text()
    assert json.loads(store.read_text())[locked.host]["Secret"] == PASSWORD
    run_kotasks(hello, "build", "./cmd/worker", env=env).ok()  # the helper's credentials
    out = subprocess.run([sys.executable, "-m", "kotasks", "logout", locked.host], cwd=hello,
                         env=build_env(env), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and json.loads(store.read_text()) == {}


def test_bad_login_input(hello: Path, tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path / "docker")}
    missing = login(hello, env, "localhost:5000", "-u", USER)
    assert missing.returncode == 3 and "both a username" in missing.stderr
    bad = login(hello, env, "localhost:5000/some/repo", "-u", USER, "-p", "x")
    assert bad.returncode == 3 and "is not a registry" in bad.stderr
    assert not (tmp_path / "docker" / "config.json").exists()


@pytest.mark.parametrize(("server", "key"), [
    ("docker.io", "https://index.docker.io/v1/"), ("index.docker.io", "https://index.docker.io/v1/"),
    ("https://index.docker.io/v1/", "https://index.docker.io/v1/"), ("ghcr.io", "ghcr.io"),
    ("localhost:5000", "localhost:5000"), ("https://registry.example.com/", "registry.example.com"),
])
def test_server_names_are_normalised(server: str, key: str) -> None:
    assert server_key(server) == key
