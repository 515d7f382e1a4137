"""What the targets outside a registry need: every blob in the store, and a single image.

A daemon, a kind node and a docker tarball hold images, not indexes, and they get every
layer from us (a registry can mount base layers; these cannot), so base layers the store
lacks are fetched first.
"""

from __future__ import annotations

from collections.abc import Mapping

from kotasks.baseimage import BaseRecord, fetch_blob
from kotasks.errors import ImageError
from kotasks.oci.descriptor import Descriptor
from kotasks.oci.layout import Layout
from kotasks.oci.manifest import ImageParts, image_parts, parse_index
from kotasks.oci.mediatypes import INDEXES


def local_parts(store: Layout, root: Descriptor, base: BaseRecord | None) -> list[ImageParts]:
    """The images of ``root``, with every layer present in ``store`` (fetched if missing)."""
    parts = image_parts(store.read, root)
    for part in parts:
        for layer in part.layers:
            if store.has(layer.digest):
                continue
            if base is None or base.is_scratch:
                raise ImageError(f"layer {layer.digest} is missing from the local store")
            fetch_blob(store, base, layer.digest)
    return parts


def local_platform(environ: Mapping[str, str]) -> tuple[str, str]:
    """The (os, architecture) a daemon or kind target takes from an index: ``GOOS`` and
    ``GOARCH``, else linux/amd64, as ko does."""
    return environ.get("GOOS") or "linux", environ.get("GOARCH") or "amd64"


def single_image(store: Layout, root: Descriptor, environ: Mapping[str, str],
                 what: str) -> Descriptor:
    """``root`` itself, or the child of an index whose platform is ``GOOS``/``GOARCH``
    (variant ignored, as in ko); an error listing the index's platforms if none is."""
    if root.media_type not in INDEXES:
        return root
    goos, goarch = local_platform(environ)
    children = parse_index(store.read(root.digest), root.media_type).manifests
    for child in children:
        if child.platform and (child.platform.os, child.platform.architecture) == (goos,
                                                                                  goarch):
            return child
    offered = ", ".join(str(c.platform) for c in children if c.platform) or "no platforms"
    raise ImageError(f"{what}: the index has no {goos}/{goarch} image (it has {offered}); "
                     f"add {goos}/{goarch} to the platforms (a daemon or kind node holds "
                     "one platform)")
