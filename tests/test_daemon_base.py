"""Base images from the local Docker daemon (``defaultBaseImage: ko.local/…``), as ko's README
promises: a base built with ``docker build`` in the tests' own dockerd, read through its
export, layered under the app, pushed to the real registry and loaded back with ``-L``; and
the base task's up-to-date check, which asks the daemon for the image ID and exports
nothing while it stays the same."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from tests.support.dockerd import Dockerd
from tests.support.forward import tcp_to_unix
from tests.support.images import skopeo_copy, umoci_unpack
from tests.support.project import Result, run_kotasks
from tests.support.registry import Registry

pytestmark = pytest.mark.slow

BASE = "ko.local/example/base/image"


def build_base(dockerd: Dockerd, directory: Path, greeting: str, name: str = BASE) -> str:
    """``docker build`` a base FROM scratch holding /etc/greeting; return its image ID."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "greeting").write_text(greeting)
    (directory / "Dockerfile").write_text("FROM scratch\nCOPY greeting /etc/greeting\n")
    dockerd.docker("build", "-q", "-t", name, str(directory))
    return dockerd.docker("image", "inspect", "--format", "{{.Id}}", name).stdout.strip()


def exports(calls: list[str]) -> list[str]:
    return [c for c in calls if re.search(r"^GET /v[\d.]+/images/.+/get", c)]


def on_daemon_base(module: Path, name: str = BASE) -> Path:
    (module / ".ko.yaml").write_text(f"defaultBaseImage: {name}\n")
    return module


def build(module: Path, env: dict[str, str], *args: str) -> Result:
    return run_kotasks(module, "build", "--sbom=none", *args, "./cmd/show", env=env)


def test_an_app_on_a_base_built_in_the_daemon(local: Path, dockerd: Dockerd, registry: Registry,
                                              tmp_path: Path) -> None:
    build_base(dockerd, tmp_path / "base", "hello from the base\n")
    env = {**dockerd.env, "KO_DOCKER_REPO": f"{registry.host}/daemonbase"}
    [ref] = build(on_daemon_base(local), env).ok().refs
    skopeo_copy(f"docker://{ref}", f"oci:{tmp_path}/copy:app")
    rootfs = umoci_unpack(f"{tmp_path}/copy:app", tmp_path / "bundle")
    assert (rootfs / "etc/greeting").read_text() == "hello from the base\n"
    assert (rootfs / "ko-app/show").is_file()

    [loaded] = build(local, dockerd.env, "-L").ok().refs
    run = dockerd.docker("run", "--rm", "--network", "none", "--entrypoint", "/ko-app/show",
                         loaded)
    assert run.stdout == "hello from kodata\n"
    layers = dockerd.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", loaded)
    base_layers = dockerd.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}",
                                 BASE)
    assert layers.stdout.startswith(base_layers.stdout.strip().rstrip("]"))


def test_a_load_back_into_the_daemon_sends_no_base_layer(local: Path, dockerd: Dockerd,
                                                         tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base/big").write_bytes(random.Random(22).randbytes(8 << 20))
    (tmp_path / "base/Dockerfile").write_text("FROM scratch\nCOPY big /big\n")
    dockerd.docker("build", "-q", "-t", BASE, str(tmp_path / "base"))
    sent: list[int] = []
    with tcp_to_unix(dockerd.socket, sent) as host:
        [loaded] = build(on_daemon_base(local), {"DOCKER_HOST": host}, "-L").ok().refs
    assert sum(sent) < 8 << 20, sum(sent)  # the app's layers only, not the 8 MiB base
    run = dockerd.docker("run", "--rm", "--network", "none", "--entrypoint", "/ko-app/show",
                         loaded)
    assert run.stdout == "hello from kodata\n"


def test_the_base_reruns_exactly_when_the_daemon_image_changes(
        local: Path, dockerd: Dockerd, registry: Registry, tmp_path: Path) -> None:
    build_base(dockerd, tmp_path / "base", "first\n")
    env = {**dockerd.env, "KO_DOCKER_REPO": f"{registry.host}/rebased"}
    first = build(on_daemon_base(local), env).ok()
    mark = dockerd.log_mark()
    again = build(local, env).ok()
    assert again.executed == [] and again.refs == first.refs
    assert not exports(dockerd.api_calls_since(mark))  # one inspect, no export
    build_base(dockerd, tmp_path / "base", "second\n")
    changed = build(local, env).ok()
    assert changed.executed[0] == f"base:{BASE}"
    assert not [t for t in changed.executed if t.startswith(("gobuild:", "kodata:", "layer:"))]
    assert "build:cmd/show" in changed.executed and changed.refs != first.refs
    skopeo_copy(f"docker://{changed.refs[0]}", f"oci:{tmp_path}/copy:app")
    rootfs = umoci_unpack(f"{tmp_path}/copy:app", tmp_path / "bundle")
    assert (rootfs / "etc/greeting").read_text() == "second\n"


def test_a_base_missing_from_the_daemon(local: Path, dockerd: Dockerd) -> None:
    result = build(on_daemon_base(local, "ko.local/never/built"), dockerd.env)
    line = result.stderr.rstrip().splitlines()[-1]
    assert result.returncode != 0
    assert "ko.local/never/built:latest: not in the Docker daemon at unix://" in line
    assert "docker build -t ko.local/never/built:latest ." in line


def test_a_daemon_base_has_one_platform(local: Path, dockerd: Dockerd, tmp_path: Path) -> None:
    build_base(dockerd, tmp_path / "base", "amd64 only\n")
    result = build(on_daemon_base(local), dockerd.env, "--platform=linux/arm64")
    assert result.returncode != 0
    assert "is for linux/amd64, which does not match the requested platform linux/arm64" in \
        result.stderr
