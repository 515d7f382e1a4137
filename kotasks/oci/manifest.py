"""Image manifests and indexes: encode them (ggcr field order) and read them back."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kotasks.errors import ImageError
from kotasks.oci.descriptor import Descriptor
from kotasks.oci.encoding import go_json
from kotasks.oci.mediatypes import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    IMAGE_MANIFESTS,
    INDEXES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
)


@dataclass(frozen=True)
class Manifest:
    """A parsed image manifest."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str]


@dataclass(frozen=True)
class Index:
    """A parsed image index (or Docker manifest list)."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: dict[str, str]


def encode_manifest(media_type: str, config: Descriptor, layers: list[Descriptor],
                    annotations: dict[str, str] | None) -> bytes:
    """Return the bytes of an image manifest of ``media_type``."""
    if media_type not in IMAGE_MANIFESTS:
        raise ImageError(f"cannot write an image manifest of media type {media_type!r}")
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type,
                           "config": config.to_json(),
                           "layers": [layer.to_json() for layer in layers]}
    if annotations:
        doc["annotations"] = dict(annotations)
    return go_json(doc)


def encode_index(media_type: str, manifests: list[Descriptor],
                 annotations: dict[str, str] | None) -> bytes:
    """Return the bytes of an image index (or manifest list) of ``media_type``."""
    if media_type not in INDEXES:
        raise ImageError(f"cannot write an index of media type {media_type!r}")
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type,
                           "manifests": [m.to_json() for m in manifests]}
    if annotations:
        doc["annotations"] = dict(annotations)
    return go_json(doc)


def _load(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ImageError(f"{what} is not a JSON object")
    return doc


def media_type_of(data: bytes, fallback: str = "") -> str:
    """Return the media type a manifest or index declares, else guess from its shape."""
    doc = _load(data, "manifest")
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if fallback:
        return fallback
    if "manifests" in doc:
        return OCI_INDEX
    return OCI_MANIFEST


def parse_manifest(data: bytes, media_type: str = "") -> Manifest:
    """Parse an image manifest, checking the fields kotasks relies on."""
    doc = _load(data, "image manifest")
    mt = media_type or doc.get("mediaType") or OCI_MANIFEST
    if mt not in IMAGE_MANIFESTS:
        raise ImageError(f"unsupported manifest media type {mt!r} (expected an OCI or Docker "
                         "schema 2 image manifest)")
    if doc.get("schemaVersion") != 2:
        raise ImageError(f"image manifest schemaVersion is {doc.get('schemaVersion')!r}, not 2")
    try:
        config = Descriptor.from_json(doc["config"])
        layers = tuple(Descriptor.from_json(d) for d in doc.get("layers") or [])
    except (KeyError, TypeError, ValueError, ImageError) as exc:
        raise ImageError(f"malformed image manifest: {exc}") from None
    return Manifest(mt, config, layers, dict(doc.get("annotations") or {}))


def parse_index(data: bytes, media_type: str = "") -> Index:
    """Parse an image index or Docker manifest list."""
    doc = _load(data, "image index")
    mt = media_type or doc.get("mediaType") or OCI_INDEX
    if mt not in (OCI_INDEX, DOCKER_MANIFEST_LIST):
        raise ImageError(f"unsupported index media type {mt!r}")
    try:
        manifests = tuple(Descriptor.from_json(d) for d in doc.get("manifests") or [])
    except (TypeError, ValueError, ImageError) as exc:
        raise ImageError(f"malformed image index: {exc}") from None
    return Index(mt, manifests, dict(doc.get("annotations") or {}))


def config_media_type_for(manifest_type: str) -> str:
    """The config media type that goes with a manifest media type."""
    return DOCKER_CONFIG if manifest_type == DOCKER_MANIFEST else OCI_CONFIG


@dataclass(frozen=True)
class ImageParts:
    """One image of an artifact: its manifest descriptor, config and layers."""

    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]


def image_parts(read: Callable[[str], bytes], root: Descriptor) -> list[ImageParts]:
    """The images an artifact (an image, or an index of images) is made of, in order."""
    if root.media_type in INDEXES:
        children = parse_index(read(root.digest), root.media_type).manifests
        return [part for child in children for part in image_parts(read, child)]
    manifest = parse_manifest(read(root.digest), root.media_type)
    return [ImageParts(root, manifest.config, manifest.layers)]
