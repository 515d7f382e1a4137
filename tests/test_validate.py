"""The conformance check itself: it passes good images and catches every kind of damage."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from kotasks.errors import ValidationError
from kotasks.oci.layout import Layout
from kotasks.oci.validate import validate_image
from tests.support.project import run_kotasks


@pytest.fixture
def built(hello: Path) -> tuple[Layout, str]:
    result = run_kotasks(hello, "build", "./cmd/worker").ok()
    return Layout(hello / ".kotasks/oci"), result.refs[0].split("@")[1]


def _manifest(store: Layout, digest: str) -> dict[str, object]:
    return dict(json.loads(store.read(digest)))


def test_a_built_image_validates(built: tuple[Layout, str]) -> None:
    store, digest = built
    manifest, config = validate_image(store.open, digest)
    assert len(manifest.layers) == 2 and config["os"] == "linux"


def test_a_corrupted_layer_is_caught(built: tuple[Layout, str]) -> None:
    store, digest = built
    layer = _manifest(store, digest)["layers"][1]  # type: ignore[index]
    path = store.blob_path(layer["digest"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValidationError, match="layer 1"):
        validate_image(store.open, digest)


def test_a_wrong_diff_id_is_caught(built: tuple[Layout, str]) -> None:
    store, digest = built
    manifest = _manifest(store, digest)
    config = json.loads(store.read(manifest["config"]["digest"]))  # type: ignore[index]
    config["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64
    data = json.dumps(config).encode()
    manifest["config"] = {**manifest["config"], "digest": store.put(data),  # type: ignore[dict-item]
                          "size": len(data)}
    bad = store.put(json.dumps(manifest).encode())
    with pytest.raises(ValidationError, match="diff_id"):
        validate_image(store.open, bad)


def test_a_layer_that_is_not_a_tar_is_caught(built: tuple[Layout, str]) -> None:
    store, digest = built
    manifest = _manifest(store, digest)
    junk = gzip.compress(b"not a tar archive" * 100)
    manifest["layers"][0] = {**manifest["layers"][0],  # type: ignore[index]
                             "digest": store.put(junk), "size": len(junk)}
    bad = store.put(json.dumps(manifest).encode())
    with pytest.raises(ValidationError):
        validate_image(store.open, bad)
