"""A cached binary as an OCI artifact: its image layer, and its key's inputs as annotations.

The manifest's one layer is the binary layer exactly as an image carries it, so a hit gives
the binary (read out of the layer) and the layer blob itself, usually already in the
destination registry. The config is the OCI empty descriptor.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kotasks.buildcache.key import canonical
from kotasks.oci.layer import LayerInfo
from kotasks.oci.mediatypes import OCI_LAYER_GZIP

ARTIFACT_TYPE = "application/vnd.kotasks.gobuild.v1"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
KEY = "dev.kotasks.gobuild.key"
INPUTS = "dev.kotasks.gobuild.inputs"
RECIPE = "dev.kotasks.gobuild.layer.recipe"
DIFF_ID = "dev.kotasks.gobuild.layer.diff_id"


@dataclass(frozen=True)
class CachedBinary:
    """What a cache artifact says: its key and inputs, the layer and the layer's recipe."""

    key: str
    inputs: dict[str, Any]
    layer: LayerInfo
    recipe: dict[str, Any]

    @property
    def member(self) -> str:
        """The binary's path in the layer's tar."""
        name = self.recipe["name"]
        return f"Files/ko-app/{name}" if self.recipe.get("windows") else f"/ko-app/{name}"


def key_tag(key: str) -> str:
    """The tag a key's artifact is stored under."""
    return f"gobuild-{key}"


def last_tag(import_path: str, platform: str) -> str:
    """The tag of the last artifact stored for a package and platform (explains misses)."""
    return "last-" + hashlib.sha256(f"{import_path}@{platform}".encode()).hexdigest()[:40]


def artifact_manifest(key: str, inputs: Mapping[str, Any], layer: LayerInfo,
                      recipe: Mapping[str, Any]) -> bytes:
    """The artifact's manifest (canonical JSON)."""
    layer_annotations = {**dict(layer.annotations), DIFF_ID: layer.diff_id,
                         RECIPE: canonical(recipe)}
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_TYPE,
                   "digest": "sha256:" + hashlib.sha256(EMPTY_CONFIG).hexdigest(),
                   "size": len(EMPTY_CONFIG)},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer.digest, "size": layer.size,
                    "annotations": layer_annotations}],
        "annotations": {KEY: key, INPUTS: canonical(inputs)},
    }
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def parse_artifact(data: bytes) -> CachedBinary:
    """Read an artifact manifest; ValueError if it is not one of kotasks' cached binaries."""
    try:
        manifest = json.loads(data)
        if manifest.get("artifactType") != ARTIFACT_TYPE:
            raise ValueError("not a kotasks build cache artifact")
        annotations = manifest["annotations"]
        (layer,) = manifest["layers"]
        extra = dict(layer.get("annotations") or {})
        diff_id, recipe = extra.pop(DIFF_ID), json.loads(extra.pop(RECIPE))
        info = LayerInfo(layer["digest"], diff_id, int(layer["size"]),
                         tuple(sorted(extra.items())))
        return CachedBinary(annotations[KEY], json.loads(annotations[INPUTS]), info, recipe)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed build cache artifact: {exc}") from None
