"""Assemble ko's image: base + kodata + binary layers, ko's config and annotations (§4.2, §4.3)."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kotasks.gobuild.delve import DELVE_COMMENT, debug_entrypoint
from kotasks.oci.descriptor import Descriptor, Platform
from kotasks.oci.encoding import GO_ZERO_TIME, go_json
from kotasks.oci.layer import LayerInfo
from kotasks.oci.layout import Layout
from kotasks.oci.manifest import config_media_type_for, encode_manifest
from kotasks.oci.mediatypes import layer_type_for

if TYPE_CHECKING:
    from kotasks.baseimage import BaseImage

AUTHOR = "github.com/ko-build/ko"
BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
KODATA_COMMENT = "kodata contents, at $KO_DATA_PATH"


@dataclass(frozen=True)
class ImageOptions:
    """What, besides the layers, decides the image: names, times, labels, user."""

    import_path: str
    binary_name: str
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    user: str = ""
    source_date_epoch: int | None = None
    kodata_date_epoch: int | None = None


def rfc3339(epoch: int | None) -> str:
    """Format seconds since the epoch as Go's v1.Time does (``0001-…`` for unset)."""
    if epoch is None:
        return GO_ZERO_TIME
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _with_app_path(env: list[str], app_dir: str) -> list[str]:
    """Append ``app_dir`` to the first PATH entry, or add ``PATH=<app_dir>``."""
    out = list(env)
    for i, entry in enumerate(out):
        key, sep, value = entry.partition("=")
        if sep and key == "PATH":
            out[i] = f"PATH={value}:{app_dir}"
            return out
    out.append(f"PATH={app_dir}")
    return out


def ko_config(base_config: dict[str, Any], platform: Platform, kodata: LayerInfo,
              binary: LayerInfo, opts: ImageOptions, delve: LayerInfo | None = None
              ) -> dict[str, Any]:
    """Return the new image config: ko's entrypoint (Delve's, with ``delve``), env,
    history, times and diff_ids."""
    config = copy.deepcopy(base_config)
    windows = platform.os == "windows"
    app_dir = "C:\\ko-app" if windows else "/ko-app"
    entrypoint = f"{app_dir}\\{opts.binary_name}" if windows else f"{app_dir}/{opts.binary_name}"
    inner = dict(config.get("config") or {})
    inner.pop("Cmd", None)
    inner["Entrypoint"] = debug_entrypoint(entrypoint) if delve else [entrypoint]
    env = _with_app_path(list(inner.get("Env") or []), app_dir)
    env.append("KO_DATA_PATH=" + ("C:\\var\\run\\ko" if windows else "/var/run/ko"))
    inner["Env"] = env
    if opts.labels:
        inner["Labels"] = {**(inner.get("Labels") or {}), **dict(opts.labels)}
    if opts.user:
        inner["User"] = opts.user
    config["config"] = inner
    config["author"] = AUTHOR
    if opts.source_date_epoch is not None:
        config["created"] = rfc3339(opts.source_date_epoch)
    else:
        config.setdefault("created", GO_ZERO_TIME)
    created_by = f"ko build ko://{opts.import_path}"
    config["history"] = [
        *(config.get("history") or []),
        {"author": "ko", "created": rfc3339(opts.kodata_date_epoch), "created_by": created_by,
         "comment": KODATA_COMMENT},
        {"author": "ko", "created": rfc3339(opts.source_date_epoch), "created_by": created_by,
         "comment": f"go build output, at /ko-app/{opts.binary_name}"},
    ]
    if delve:
        config["history"].append({"author": "ko", "created": rfc3339(opts.source_date_epoch),
                                  "created_by": created_by, "comment": DELVE_COMMENT})
    rootfs = dict(config.get("rootfs") or {"type": "layers"})
    rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), kodata.diff_id, binary.diff_id,
                          *([delve.diff_id] if delve else [])]
    config["rootfs"] = rootfs
    return config


def assemble_image(store: Layout, base: BaseImage, kodata: LayerInfo, binary: LayerInfo,
                   opts: ImageOptions, delve: LayerInfo | None = None) -> Descriptor:
    """Write the config and manifest blobs to the store; return the manifest's descriptor
    (with ``delve``, a debug image: Delve's layer last)."""
    manifest_type = base.manifest.media_type
    config_bytes = go_json(ko_config(base.config, base.platform, kodata, binary, opts,
                                     delve))
    config_desc = Descriptor(config_media_type_for(manifest_type), store.put(config_bytes),
                             len(config_bytes))
    layer_type = layer_type_for(manifest_type)
    layers = [*base.manifest.layers,
              Descriptor(layer_type, kodata.digest, kodata.size,
                         dict(kodata.annotations) or None),
              Descriptor(layer_type, binary.digest, binary.size,
                         dict(binary.annotations) or None)]
    if delve:
        layers.append(Descriptor(layer_type, delve.digest, delve.size,
                                 dict(delve.annotations) or None))
    annotations = {**base.manifest.annotations, **dict(opts.annotations)}
    if not base.record.is_scratch:
        annotations[BASE_NAME] = base.record.name
        annotations[BASE_DIGEST] = base.digest
    data = encode_manifest(manifest_type, config_desc, layers, annotations)
    return Descriptor(manifest_type, store.put(data), len(data))
