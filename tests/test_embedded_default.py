"""With no KO_DOCKER_REPO, images land in an OCI layout that skopeo, umoci and podman read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from kotasks.oci.layout import Layout
from kotasks.oci.validate import validate_image
from tests.support.images import skopeo_raw, umoci_unpack
from tests.support.project import run_kotasks

pytestmark = pytest.mark.slow


def test_embedded_default_is_a_readable_layout(hello: Path, tmp_path: Path) -> None:
    result = run_kotasks(hello, "build", "./cmd/app", "./cmd/worker").ok()
    layout = hello / ".kotasks" / "oci"
    names = {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
             for m in json.loads((layout / "index.json").read_text())["manifests"]}
    assert sorted(result.refs) == sorted(f".kotasks/oci@{d}" for d in names.values())
    assert result.stderr.count("KO_DOCKER_REPO is not set") == 1
    for name, digest in names.items():
        raw = skopeo_raw(f"oci:{layout}:{name}")
        assert raw["layers"] and validate_image(Layout(layout).open, digest)
    app = next(n for n in names if n.startswith("app-"))
    rootfs = umoci_unpack(f"{layout}:{app}", tmp_path / "bundle")
    assert (rootfs / "var/run/ko/index.html").read_text() == (
        hello / "cmd/app/kodata/index.html").read_text()


def test_podman_runs_an_image_from_a_layout(hello: Path, tmp_path: Path) -> None:
    layout = tmp_path / "layout"  # podman 4 names images after the path: no dot-directories
    run_kotasks(hello, "build", "./cmd/worker", "--oci-layout-path", str(layout)).ok()
    name = json.loads((layout / "index.json").read_text())["manifests"][0]["annotations"][
        "org.opencontainers.image.ref.name"]
    # a short path: conmon's attach socket lives under runroot, and socket paths are short
    conf = Path(tempfile.mkdtemp(prefix="kt-podman-"))
    (conf / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{conf}/root"\nrunroot = "{conf}/run"\n')
    (conf / "containers.conf").write_text(
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf / "containers.conf"),
           "CONTAINERS_STORAGE_CONF": str(conf / "storage.conf")}
    try:
        proc = subprocess.run(["podman", "run", "--rm", "--network=none",
                               f"oci:{layout}:{name}"], env=env, capture_output=True, text=True,
                              timeout=120)
    finally:
        shutil.rmtree(conf, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    assert "hello from worker" in proc.stdout + proc.stderr
