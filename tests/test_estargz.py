"""eStargz layers (``GGCR_EXPERIMENT_ESTARGZ=1``), checked by the stargz library itself: a
reader built here from its module opens each layer kotasks pushed to the real registry,
verifies the TOC against the layer's annotation and every chunk against the TOC; skopeo
and umoci still read the image as plain gzip, and the binary in it runs. Switching eStargz
on or off redoes layers and images, never a go build."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from kotasks.oci.estargz import TOC_DIGEST_ANNOTATION, UNCOMPRESSED_SIZE_ANNOTATION
from kotasks.oci.mediatypes import DOCKER_LAYER_GZIP, OCI_LAYER_GZIP
from tests.support.images import run, skopeo_copy, umoci_unpack
from tests.support.project import FIXTURES, build_env, copy_module, run_kotasks
from tests.support.registry import Registry

pytestmark = pytest.mark.slow
ON = {"GGCR_EXPERIMENT_ESTARGZ": "1"}


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stargz library's reader (tests/fixtures/estargz-reader), built from a file
    GOPROXY of its modules (scripts/go-modules; scripts/test passes it)."""
    proxy = os.environ.get("KOTASKS_ESTARGZ_GOPROXY", "")
    if not proxy.startswith("file://"):
        pytest.fail("no stargz module mirror (KOTASKS_ESTARGZ_GOPROXY): run `bash "
                    "scripts/go-modules github.com/containerd/stargz-snapshotter/estargz@"
                    "v0.19.1` (scripts/test does)", pytrace=False)
    work = tmp_path_factory.mktemp("reader")
    source = shutil.copytree(FIXTURES / "estargz-reader", work / "src")
    binary = work / "estargz-reader"
    env = build_env({"GOPROXY": proxy, "GOMODCACHE": str(work / "mod"), "CGO_ENABLED": "0"})
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=source, env=env, check=True,
                   capture_output=True, timeout=600)
    return binary


def test_layers_are_estargz_that_the_stargz_library_verifies(
        hello: Path, registry: Registry, reader: Path, tmp_path: Path) -> None:
    [ref] = run_kotasks(hello, "build", "--sbom=none", "./cmd/worker",
                        env={**ON, "KO_DOCKER_REPO": f"{registry.host}/esgz"}).ok().refs
    skopeo_copy(f"docker://{ref}", f"oci:{tmp_path}/copy:worker")
    index = json.loads((tmp_path / "copy/index.json").read_text())
    blobs = tmp_path / "copy/blobs/sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_text())
    kodata, binary = manifest["layers"][-2:]
    lines = []
    for layer in (kodata, binary):
        assert layer["mediaType"] in (OCI_LAYER_GZIP, DOCKER_LAYER_GZIP)
        notes = layer["annotations"]
        assert int(notes[UNCOMPRESSED_SIZE_ANNOTATION]) > 0
        out = run([str(reader), f"{blobs / layer['digest'][7:]}={notes[TOC_DIGEST_ANNOTATION]}"])
        lines.append(out.stdout)
    assert "landmark=.no.prefetch.landmark" in lines[0]
    assert "files=2 landmark=.prefetch.landmark" in lines[1]
    with tarfile.open(blobs / binary["digest"][7:]) as layer:  # plain gzip, as any reader
        names = layer.getnames()
    assert names == ["ko-app", "/ko-app/worker", ".prefetch.landmark", "stargz.index.json"]
    rootfs = umoci_unpack(f"{tmp_path}/copy:worker", tmp_path / "bundle")
    worker = subprocess.run([str(rootfs / "ko-app/worker")], capture_output=True, text=True,
                            timeout=30)
    assert "worker" in worker.stderr


def test_switching_estargz_redoes_layers_never_a_go_build(hello: Path, tmp_path: Path
                                                          ) -> None:
    plain = run_kotasks(hello, "build", "--sbom=none", "./cmd/worker").ok()
    on = run_kotasks(hello, "build", "--sbom=none", "./cmd/worker", env=ON).ok()
    assert {t.split(":")[0] for t in on.executed} == {"layer", "kodata", "image", "build"}
    assert on.refs != plain.refs
    assert run_kotasks(hello, "build", "--sbom=none", "./cmd/worker", env=ON).ok().executed == []
    off = run_kotasks(hello, "build", "--sbom=none", "./cmd/worker").ok()
    assert not off.ran("gobuild:") and off.refs == plain.refs
    elsewhere = copy_module(hello, tmp_path / "elsewhere")
    shutil.rmtree(elsewhere / ".kotasks", ignore_errors=True)
    again = run_kotasks(elsewhere, "build", "--sbom=none", "./cmd/worker", env=ON).ok()
    assert again.refs[0].rsplit("@", 1)[1] == on.refs[0].rsplit("@", 1)[1]  # same digest


def test_the_variable_or_the_option_turns_it_on(hello: Path) -> None:
    from kotasks.settings import load_settings

    assert not load_settings(str(hello), {}, {}).estargz
    assert load_settings(str(hello), {}, ON).estargz
    assert load_settings(str(hello), {"estargz": True}, {}).estargz  # tasks(estargz=True)
    assert not load_settings(str(hello), {}, {"GGCR_EXPERIMENT_ESTARGZ": "0"}).estargz
