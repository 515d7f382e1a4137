"""Publish into an OCI image layout (the embedded default, or ``--oci-layout-path``).

The layout gets every blob the artifact needs (base layers are fetched into the local store
first), and ``index.json`` names it ``<image name>:<tag>`` for each tag, so that
``skopeo inspect oci:<layout>:<name>:<tag>`` and ``podman run oci:…`` can find it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from collections.abc import Sequence

from kotasks.baseimage import BaseRecord, fetch_blob
from kotasks.errors import ImageError
from kotasks.oci.descriptor import Descriptor
from kotasks.oci.layout import Layout
from kotasks.oci.manifest import image_parts

log = logging.getLogger("kotasks")


def layout_reference(path: str, digest: str) -> str:
    """ko's printed form for a layout: ``<layout path>@<digest>``."""
    return f"{path}@{digest}"


def _copy_blob(store: Layout, dest: Layout, digest: str) -> None:
    if dest.has(digest):
        return
    source = store.blob_path(digest)
    target = dest.blob_path(digest)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    try:
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_layout(store: Layout, path: str, root: Descriptor, names: Sequence[str],
                 base: BaseRecord | None) -> None:
    """Put the artifact ``root`` into the layout at ``path`` under each ref name."""
    parts = image_parts(store.read, root)
    for part in parts:
        for layer in part.layers:
            if not store.has(layer.digest):
                if base is None or base.is_scratch:
                    raise ImageError(f"layer {layer.digest} is missing from the local store")
                fetch_blob(store, base, layer.digest)
    dest = Layout(path).ensure()
    if os.path.realpath(dest.root) != os.path.realpath(store.root):
        digests = {root.digest}
        for part in parts:
            digests.update({part.manifest.digest, part.config.digest,
                            *(layer.digest for layer in part.layers)})
        for digest in sorted(digests):
            _copy_blob(store, dest, digest)
    dest.set_refs([(name, root) for name in names])
    log.info("Wrote %s to OCI layout %s", ", ".join(names), path)
