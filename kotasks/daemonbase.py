"""Base images from the local Docker daemon: ``ko.local/…`` as ``defaultBaseImage`` or in
``baseImageOverrides``, as ko's README promises.

The image is read from the daemon at ``DOCKER_HOST`` through the Docker SDK: one inspect
for its ID (the digest of its config), then ``docker save``, streamed: each layer tar goes
into the store as a gzip layer as it arrives (its own bytes, so the diff_id is the daemon's),
the config as it is, and a Docker manifest is written over them. Nothing is held in memory
whole. The base task records the image ID, and its up-to-date check asks the daemon for it
again (one cheap request), so a rebuilt base re-runs exactly the base and the images on it.
A daemon image has one platform.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from kotasks.errors import ImageError, UserError
from kotasks.oci.descriptor import Descriptor
from kotasks.oci.digest import sha256_digest
from kotasks.oci.layer import LayerInfo
from kotasks.oci.layout import Layout
from kotasks.oci.manifest import encode_manifest
from kotasks.oci.mediatypes import DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST
from kotasks.registry.reference import Reference

log = logging.getLogger("kotasks")
#: a member of a save this small that starts with "{" is JSON (a config, a manifest)
_JSON_LIMIT = 16 << 20


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (the daemon's export stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._left = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            self._left = next(self._chunks, b"")
            if not self._left:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n], self._left = self._left[:n], self._left[n:]
        return n


class _Prefixed:
    """``head`` and then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: Any) -> None:
        self._head, self._stream = head, stream

    def read(self, n: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head[:n], self._head[n:]
            return data
        return bytes(self._stream.read(n))


def _read_save(store: Layout, chunks: Iterator[bytes]) -> tuple[list[bytes], dict[str, LayerInfo]]:
    """Store every layer of a ``docker save`` stream (legacy ``…/layer.tar`` or OCI
    ``blobs/sha256/…``); return its JSON members and the layers by diff_id."""
    import tarfile  # only when a base is copied: not on every run's task creation

    documents: list[bytes] = []
    layers: dict[str, LayerInfo] = {}
    with tarfile.open(fileobj=io.BufferedReader(_ChunkReader(chunks), 1 << 20),
                      mode="r|") as archive:
        for member in archive:
            if not member.isfile():
                continue  # a linked layer.tar repeats a layer already read
            data = archive.extractfile(member)
            if data is None:
                continue
            head = data.read(512)
            if head.lstrip()[:1] == b"{" and member.size <= _JSON_LIMIT:
                documents.append(head + data.read())
            elif member.name.endswith("/layer.tar") or member.name.startswith("blobs/"):
                info = store.ingest_tar(_Prefixed(head, data))
                layers[info.diff_id] = info
    return documents, layers


def import_daemon_base(store: Layout, ref: Reference, environ: Mapping[str, str]
                       ) -> tuple[Descriptor, str]:
    """Copy the daemon's image ``ref`` into the store as a Docker manifest; return the
    manifest's descriptor and the image ID."""
    from kotasks.publish.dockerengine import Engine

    name = str(ref)
    engine = Engine(environ)
    info = engine.inspect(name)
    if info is None:
        raise UserError(f"base image {name}: not in the Docker daemon at {engine.endpoint}; "
                        f"build it (docker build -t {name} .) or pull and tag it (docker pull "
                        f"IMAGE && docker tag IMAGE {name})")
    image_id = str(info.get("Id") or "")
    log.info("Reading base %s (%s) from the Docker daemon", name, image_id[:19])
    documents, layers = _read_save(store, engine.export(name))
    config = next((d for d in documents if sha256_digest(d) == image_id), None)
    if config is None:
        raise ImageError(f"base image {name}: the daemon's export has no config {image_id}")
    diff_ids = (json.loads(config).get("rootfs") or {}).get("diff_ids") or []
    missing = [d for d in diff_ids if d not in layers]
    if missing:
        raise ImageError(f"base image {name}: the daemon's export lacks layer {missing[0]}")
    store.put(config)
    manifest = encode_manifest(DOCKER_MANIFEST, Descriptor(DOCKER_CONFIG, image_id, len(config)),
                               [Descriptor(DOCKER_LAYER_GZIP, layers[d].digest, layers[d].size)
                                for d in diff_ids], None)
    return Descriptor(DOCKER_MANIFEST, store.put(manifest), len(manifest)), image_id
