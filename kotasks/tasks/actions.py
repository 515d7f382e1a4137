"""Task actions: call the domain, return JSON-ready values, turn KotasksError into a failure.

Each action returns only content-derived values (digests, sizes, references), never times or
log text, so that doit's result checks give early cut-off when a step reproduces its output.

The domain modules are imported inside the actions, not at the top: a no-op run loads this
module to name the actions but runs none of them, and those imports (requests among them)
would cost it a third of its time.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kotasks.errors import KotasksError
from kotasks.tasks.reporter import KotasksFailure

if TYPE_CHECKING:
    from kotasks.gobuild.build import BuildRequest
    from kotasks.gobuild.image import ImageOptions
    from kotasks.gobuild.toolchain import Toolchain
    from kotasks.oci.descriptor import Platform
    from kotasks.publish.target import PublishTarget


def guarded(action: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``action`` with KotasksError turned into a :class:`KotasksFailure` value."""

    @functools.wraps(action)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return action(*args, **kwargs)
        except KotasksError as error:
            return KotasksFailure(error)

    return run


def _warm_up() -> None:
    """Import the HTTP stack on a side thread while Go compiles (it takes ~80 ms).

    Only the import: no request is sent, since the build may yet turn out unchanged.
    """
    threading.Thread(target=importlib.import_module, args=("requests",), name="warm-up",
                     daemon=True).start()


@guarded
def go_build(tool: Toolchain, request: BuildRequest, target: str, pushes: bool) -> None:
    """Build the binary (kept untouched when the new one is byte-identical)."""
    from kotasks.gobuild.build import build_binary

    if pushes:
        _warm_up()
    build_binary(tool, request, target)


@guarded
def make_kodata_layer(store: str, kodata_dir: str, root: str, mtime: int,
                      windows: bool) -> dict[str, Any]:
    """Write the kodata layer; return its digest, diff_id and size."""
    from kotasks.gobuild.kodata import kodata_entries
    from kotasks.gobuild.layers import kodata_layer
    from kotasks.oci.layout import Layout

    entries = kodata_entries(kodata_dir, root, windows)
    return kodata_layer(Layout(store), entries, mtime, windows).to_json()


@guarded
def make_binary_layer(store: str, binary: str, name: str, windows: bool,
                      capability: str) -> dict[str, Any]:
    """Write the binary layer; return its digest, diff_id and size."""
    from kotasks.gobuild.layers import binary_layer
    from kotasks.oci.layout import Layout

    xattr = bytes.fromhex(capability) if capability else None
    return binary_layer(Layout(store), binary, name, windows, xattr).to_json()


@guarded
def fetch_base(store: str, state_dir: str, reference: str, insecure: bool) -> dict[str, Any]:
    """Resolve the base reference (one HEAD for a tag); return the base record."""
    from kotasks.baseimage import resolve_base
    from kotasks.oci.layout import Layout
    from kotasks.tasks.bases import remember

    record = resolve_base(Layout(store), reference, insecure)
    remember(state_dir, record)
    return record.to_json()


@guarded
def make_image(store: str, platform: Platform, options: ImageOptions, kodata: dict[str, Any],
               layer: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Assemble one platform's image; return its manifest descriptor fields."""
    from kotasks.baseimage import BaseRecord, base_for_platform
    from kotasks.gobuild.image import assemble_image
    from kotasks.oci.layer import LayerInfo
    from kotasks.oci.layout import Layout

    layout = Layout(store)
    base_image = base_for_platform(layout, BaseRecord.from_json(base), platform)
    desc = assemble_image(layout, base_image, LayerInfo.from_json(kodata),
                          LayerInfo.from_json(layer), options)
    return {"digest": desc.digest, "size": desc.size, "media_type": desc.media_type}


@guarded
def make_index(store: str, platforms: list[Platform], annotations: list[tuple[str, str]],
               base: dict[str, Any], **images: dict[str, Any]) -> dict[str, Any]:
    """Assemble the index over the platforms' images; return its descriptor fields."""
    from kotasks.baseimage import BaseRecord
    from kotasks.gobuild.index import assemble_index
    from kotasks.oci.descriptor import Descriptor
    from kotasks.oci.layout import Layout

    children = [(platform, Descriptor(image["media_type"], image["digest"], image["size"]))
                for platform, image in zip(platforms, (images[f"image_{i}"] for i in
                                                      range(len(platforms))), strict=True)]
    desc = assemble_index(Layout(store), BaseRecord.from_json(base), children, annotations)
    return {"digest": desc.digest, "size": desc.size, "media_type": desc.media_type}


@guarded
def publish_artifact(store: str, target: PublishTarget, import_path: str,
                     artifact: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Publish the image (or index) to the configured sinks; return the printed reference."""
    from kotasks.baseimage import BaseRecord
    from kotasks.oci.descriptor import Descriptor
    from kotasks.oci.layout import Layout
    from kotasks.publish.publisher import publish

    root = Descriptor(artifact["media_type"], artifact["digest"], artifact["size"])
    ref = publish(target, Layout(store), root, import_path, BaseRecord.from_json(base))
    return {"ref": ref, "digest": root.digest}
