"""A package becomes ko's image in a real registry; read back by skopeo and umoci, and run."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from kotasks.oci.layout import Layout
from kotasks.oci.validate import validate_image
from tests.support.images import skopeo_config, skopeo_copy, skopeo_raw
from tests.support.project import run_kotasks
from tests.support.registry import Registry
from tests.support.runtime import run_to_completion, serving

pytestmark = pytest.mark.slow

APP = "example.com/hello/cmd/app"
APP_MD5 = hashlib.md5(APP.encode()).hexdigest()


def _pull(ref: str, dest: Path, tag: str = "pulled") -> str:
    skopeo_copy(f"docker://{ref}", f"oci:{dest}:{tag}")
    return f"{dest}:{tag}"


def test_build_pushes_image_that_runs_and_serves_kodata(hello: Path, registry: Registry,
                                                        tmp_path: Path) -> None:
    repo = f"{registry.host}/e2e"
    result = run_kotasks(hello, "build", "./cmd/app", env={"KO_DOCKER_REPO": repo}).ok()

    assert len(result.refs) == 1, result.stdout
    ref = result.refs[0]
    assert re.fullmatch(rf"{re.escape(repo)}/app-{APP_MD5}@sha256:[0-9a-f]{{64}}", ref)
    assert result.stdout == ref + "\n"  # stdout carries the reference and nothing else

    manifest = skopeo_raw(f"docker://{ref}")
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+gzip"] * 2
    config = skopeo_config(f"docker://{ref}")
    assert config["config"]["Entrypoint"] == ["/ko-app/app"]
    assert config["config"]["Env"] == ["PATH=/ko-app", "KO_DATA_PATH=/var/run/ko"]

    layout = tmp_path / "pulled"
    _pull(ref, layout)
    digest = ref.split("@")[1]
    validate_image(Layout(layout).open, digest)
    index_html = (hello / "cmd/app/kodata/index.html").read_text()
    with serving(f"{layout}:pulled", tmp_path) as url:
        import requests

        assert requests.get(f"{url}/home.html", timeout=5).text == index_html
        assert requests.get(f"{url}/assets/style.css", timeout=5).text == (
            hello / "cmd/app/kodata/assets/style.css").read_text()


def test_worker_image_runs_to_completion(hello: Path, registry: Registry,
                                         tmp_path: Path) -> None:
    result = run_kotasks(hello, "build", "./cmd/worker",
                         env={"KO_DOCKER_REPO": f"{registry.host}/e2e"}).ok()
    layout = tmp_path / "pulled"
    _pull(result.refs[0], layout)
    proc = run_to_completion(f"{layout}:pulled", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "hello from worker" in proc.stderr


def test_two_clean_builds_give_the_same_digest(hello: Path, registry: Registry,
                                               tmp_path: Path) -> None:
    env = {"KO_DOCKER_REPO": f"{registry.host}/determinism"}
    first = run_kotasks(hello, "build", "./cmd/app", env=env).ok().refs
    import shutil

    shutil.rmtree(hello / ".kotasks")
    other = tmp_path / "elsewhere"
    shutil.copytree(hello, other, symlinks=True)
    second = run_kotasks(other, "build", "./cmd/app", env=env).ok().refs
    assert first == second
