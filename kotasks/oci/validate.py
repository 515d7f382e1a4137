"""A conformance check for images and indexes: recompute every digest, size and diff_id.

Tests run it on everything kotasks makes (as go-containerregistry's ``validate`` does), next to
an independent reader; it works on any blob source: a layout, or blobs fetched from a registry.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from collections.abc import Callable
from typing import Any, BinaryIO

from kotasks.errors import ImageError, ValidationError
from kotasks.oci.digest import CHUNK, Readable
from kotasks.oci.manifest import Index, Manifest, parse_index, parse_manifest
from kotasks.oci.mediatypes import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    INDEXES,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
)

BlobOpener = Callable[[str], BinaryIO]

_EXPECTED_TYPES = {
    DOCKER_MANIFEST: (DOCKER_CONFIG, DOCKER_LAYER_GZIP),
}


class _HashingReader:
    """Wrap a stream, hashing and counting everything read through it."""

    def __init__(self, inner: Readable) -> None:
        self.inner, self.hash, self.size = inner, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def _read_all(open_blob: BlobOpener, digest: str, size: int | None, what: str,
              problems: list[str]) -> bytes:
    with open_blob(digest) as stream:
        data = stream.read()
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != digest:
        problems.append(f"{what}: digest is {actual}, descriptor says {digest}")
    if size is not None and len(data) != size:
        problems.append(f"{what}: size is {len(data)}, descriptor says {size}")
    return data


def _check_layer(open_blob: BlobOpener, digest: str, size: int, diff_id: str | None,
                 what: str, problems: list[str]) -> None:
    with open_blob(digest) as raw:
        compressed = _HashingReader(raw)
        try:
            with gzip.GzipFile(fileobj=compressed, mode="rb") as gz:  # type: ignore[call-overload]
                tar_bytes = _HashingReader(gz)
                with tarfile.open(fileobj=tar_bytes, mode="r|") as archive:  # type: ignore[call-overload]
                    for _member in archive:
                        pass
                tar_bytes.drain()
        except (OSError, EOFError, tarfile.TarError) as exc:
            problems.append(f"{what}: not a readable gzip tar stream: {exc}")
            return
        compressed.drain()
    if compressed.digest != digest:
        problems.append(f"{what}: digest is {compressed.digest}, descriptor says {digest}")
    if compressed.size != size:
        problems.append(f"{what}: size is {compressed.size}, descriptor says {size}")
    if diff_id is not None and tar_bytes.digest != diff_id:
        problems.append(f"{what}: diff_id is {tar_bytes.digest}, config says {diff_id}")


def validate_image(open_blob: BlobOpener, digest: str, size: int | None = None,
                   media_type: str = "") -> tuple[Manifest, dict[str, Any]]:
    """Check an image end to end; return its manifest and config, or raise ValidationError."""
    problems: list[str] = []
    raw = _read_all(open_blob, digest, size, f"manifest {digest}", problems)
    try:
        manifest = parse_manifest(raw, media_type)
    except ImageError as exc:
        raise ValidationError(f"manifest {digest}: {exc}") from None
    config_type, layer_type = _EXPECTED_TYPES.get(manifest.media_type,
                                                  (OCI_CONFIG, OCI_LAYER_GZIP))
    if manifest.config.media_type != config_type:
        problems.append(f"config media type {manifest.config.media_type} does not go with "
                        f"{manifest.media_type}")
    config_raw = _read_all(open_blob, manifest.config.digest, manifest.config.size,
                           "config", problems)
    try:
        config = json.loads(config_raw)
    except ValueError as exc:
        raise ValidationError(f"config {manifest.config.digest}: not JSON: {exc}") from None
    rootfs = config.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids") or []
    if rootfs.get("type") != "layers":
        problems.append(f"config rootfs.type is {rootfs.get('type')!r}, not 'layers'")
    if len(diff_ids) != len(manifest.layers):
        problems.append(f"config lists {len(diff_ids)} diff_ids for {len(manifest.layers)} "
                        "layers")
    for i, layer in enumerate(manifest.layers):
        if layer.media_type != layer_type:
            problems.append(f"layer {i} media type {layer.media_type} does not go with "
                            f"{manifest.media_type}")
        _check_layer(open_blob, layer.digest, layer.size,
                     diff_ids[i] if i < len(diff_ids) else None, f"layer {i}", problems)
    if problems:
        raise ValidationError(f"image {digest}: " + "; ".join(problems))
    return manifest, config


def validate_index(open_blob: BlobOpener, digest: str, size: int | None = None,
                   media_type: str = "") -> Index:
    """Check an index and every image it lists; raise ValidationError on the first bad one."""
    problems: list[str] = []
    raw = _read_all(open_blob, digest, size, f"index {digest}", problems)
    if problems:
        raise ValidationError("; ".join(problems))
    index = parse_index(raw, media_type)
    for child in index.manifests:
        if child.media_type in INDEXES:
            raise ValidationError(f"index {digest}: nested index {child.digest}")
        _manifest, config = validate_image(open_blob, child.digest, child.size,
                                           child.media_type)
        if child.platform is not None and (config.get("os"), config.get("architecture")) != (
                child.platform.os, child.platform.architecture):
                raise ValidationError(
                    f"index {digest}: entry {child.digest} says {child.platform}, its config "
                    f"says {config.get('os')}/{config.get('architecture')}")
    return index
