"""Which binary layer was made from which binary: a memo beside the binary.

``<binary>.layer.json`` records the SHA-256 of the binary's bytes, the layer's recipe (its
name, Windows layout, capability, format) and the layer made from them. A binary layer is a
pure function of those, so while the blob is in the store the layer need not be compressed
again; a binary taken from the build cache comes with its layer this way, and a binary
rebuilt with the same bytes can be offered to the cache with the layer it already has.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from kotasks.fsutil import file_digest, write_atomic
from kotasks.oci.layer import LayerInfo


def layer_recipe(name: str, windows: bool, capability: str, estargz: bool) -> dict[str, Any]:
    """Everything besides the binary's bytes that a binary layer's bytes depend on."""
    return {"name": name, "windows": windows, "capability": capability, "estargz": estargz}


def _memo_path(binary: str) -> str:
    return binary + ".layer.json"


def binary_sha256(binary: str) -> str:
    """The SHA-256 of a binary's bytes (hashed once per process while it is unchanged)."""
    return file_digest(binary, os.stat(binary))


def remember_layer(binary: str, recipe: Mapping[str, Any], layer: LayerInfo) -> None:
    """Record that ``layer`` was made from ``binary``'s current bytes with ``recipe``."""
    memo = {"binary": binary_sha256(binary), "recipe": dict(recipe), "layer": layer.to_json()}
    write_atomic(_memo_path(binary), json.dumps(memo, sort_keys=True).encode())


def remembered_layer(binary: str, recipe: Mapping[str, Any] | None = None
                     ) -> tuple[dict[str, Any], LayerInfo] | None:
    """The recipe and layer recorded for ``binary``'s current bytes (and ``recipe``, when
    given), or None."""
    try:
        with open(_memo_path(binary), "rb") as f:
            memo = json.loads(f.read())
        if memo["binary"] != binary_sha256(binary):
            return None
        if recipe is not None and memo["recipe"] != dict(recipe):
            return None
        return memo["recipe"], LayerInfo.from_json(memo["layer"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
