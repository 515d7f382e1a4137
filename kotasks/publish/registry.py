"""Push an image or index from the local store to a registry, sending only what is missing.

For each blob: HEAD it; if absent, mount it from the base image's repository when that is on
the same registry, else stream it from the store (re-hashed on the way), else stream it from
the base image's registry. Children go before their index; the artifact goes by its digest
first and then under each tag, so a failure never leaves a tag on a half-pushed image.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from kotasks.baseimage import BaseRecord
from kotasks.errors import ImageError
from kotasks.oci.descriptor import Descriptor
from kotasks.oci.digest import Readable
from kotasks.oci.layout import Layout
from kotasks.oci.manifest import image_parts
from kotasks.registry.client import RegistryClient, client_for
from kotasks.registry.reference import parse_repository

log = logging.getLogger("kotasks")
_MAX_PARALLEL_BLOBS = 8


def registry_reference(name: str, tags: Sequence[str], digest: str, tag_only: bool) -> str:
    """ko's printed form: ``name@d``, ``name:tag@d`` for one non-latest tag, or ``name:tag``."""
    if tag_only:
        return f"{name}:{tags[0]}"
    if len(tags) == 1 and tags[0] != "latest":
        return f"{name}:{tags[0]}@{digest}"
    return f"{name}@{digest}"


def _ensure_blob(client: RegistryClient, repository: str, blob: Descriptor, store: Layout,
                 base: BaseRecord | None, base_layers: frozenset[str]) -> None:
    if client.has_blob(repository, blob.digest):
        return
    location = None
    if base is not None and blob.digest in base_layers and base.registry == client.registry:
        location = client.mount_blob(repository, blob.digest, base.repository)
        if location is None:
            return
    if store.has(blob.digest):
        store.verify(blob.digest)  # before anything is sent: a damaged store never leaks
        client.upload_blob(repository, blob.digest, blob.size,
                           lambda: store.open(blob.digest), location)
        return
    if base is None or blob.digest not in base_layers:
        raise ImageError(f"blob {blob.digest} is in neither the local store nor the base image")
    source = client_for(base.registry, base.insecure)

    @contextlib.contextmanager
    def from_base() -> Iterator[Readable]:
        # a fresh GET for every upload try: a retried upload streams the blob again
        with source.open_blob(base.repository, blob.digest) as response:
            yield response.raw

    client.upload_blob(repository, blob.digest, blob.size, from_base, location)


def push(store: Layout, root: Descriptor, name: str, tags: Sequence[str],
         base: BaseRecord | None, insecure: bool = False, jobs: int = 4,
         attach: Callable[[str], None] | None = None) -> None:
    """Push the artifact ``root`` (image or index) from ``store`` to ``name`` under ``tags``,
    and with ``attach(name)`` what goes beside it (its SBOMs), with ko's lines: ``Publishing``
    the first tag, ``Tagging`` each further one, ``Published`` the digest at the end."""
    repo = parse_repository(name, "image name")
    log.info("Publishing %s:%s", name, tags[0])
    client = client_for(repo.registry, insecure)
    parts = image_parts(store.read, root)
    if base is not None and base.is_scratch:
        base = None
    # what the store lacks comes from the base image's registry
    base_layers = frozenset(layer.digest for part in parts for layer in part.layers
                            if base is not None and not store.has(layer.digest))
    blobs = {b.digest: b for part in parts for b in (*part.layers, part.config)}
    workers = max(1, min(jobs, _MAX_PARALLEL_BLOBS, len(blobs)))
    with ThreadPoolExecutor(workers, thread_name_prefix="push") as pool:
        # each in a copy of this context: their retries are counted for this step
        for future in [pool.submit(contextvars.copy_context().run, _ensure_blob, client,
                                   repo.path, blob, store, base, base_layers)
                       for blob in blobs.values()]:
            future.result()
    if len(parts) > 1 or parts[0].manifest.digest != root.digest:
        for part in parts:
            client.put_manifest(repo.path, part.manifest.digest, store.read(part.manifest.digest),
                                part.manifest.media_type)
    data = store.read(root.digest)
    # by digest first: a failure before the tags never leaves a tag on a half-pushed image
    client.put_manifest(repo.path, root.digest, data, root.media_type)
    for number, tag in enumerate(tags):
        if number:
            log.info("Tagging %s:%s", name, tag)
        client.put_manifest(repo.path, tag, data, root.media_type)
    if attach is not None:
        attach(name)
    log.info("Published %s@%s", name, root.digest)
