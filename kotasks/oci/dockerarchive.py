"""The ``docker save`` / ``docker load`` tarball of images in the store, streamed.

The layout is go-containerregistry's (what ko writes for ``--tarball`` and streams to a daemon
or a kind node): the config as ``sha256:<hex>``, each layer as ``<hex>.tar.gz`` (``.tar`` for an
uncompressed one), each once, and ``manifest.json`` last with one entry per image and its
``RepoTags``. The archive is produced as a stream of chunks read from the store's blob files,
so memory does not grow with image size, and the same images give the same bytes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from kotasks.oci.digest import digest_hex
from kotasks.oci.layout import Layout
from kotasks.oci.manifest import ImageParts
from kotasks.oci.tarwriter import END_OF_ARCHIVE, file_chunks

_FILE_MODE = 0o644


@dataclass(frozen=True)
class ArchiveImage:
    """One image of an archive and the ``name:tag`` references it is loaded as."""

    parts: ImageParts
    repo_tags: tuple[str, ...]


def layer_file(media_type: str, digest: str) -> str:
    """The archive's file name for a layer blob."""
    compressed = media_type.endswith(("gzip", "+gzip", ".gzip"))
    return f"{digest_hex(digest)}.tar.gz" if compressed else f"{digest_hex(digest)}.tar"


def archive_manifest(images: Sequence[ArchiveImage]) -> bytes:
    """The archive's ``manifest.json``: config, tags and layer files of each image."""
    entries = [{"Config": image.parts.config.digest,
                "RepoTags": list(image.repo_tags),
                "Layers": [layer_file(layer.media_type, layer.digest)
                           for layer in image.parts.layers]}
               for image in images]
    return json.dumps(entries, separators=(",", ":")).encode()


def docker_archive(store: Layout, images: Sequence[ArchiveImage],
                   omit: frozenset[str] = frozenset()) -> Iterator[bytes]:
    """Yield the archive's bytes in chunks; every blob is re-read from ``store``. Layers in
    ``omit`` (ones the daemon holds already) are named in ``manifest.json`` but not sent:
    dockerd looks a layer up before it opens its file."""
    written: set[str] = set()
    for image in images:
        blobs = [(image.parts.config.digest, image.parts.config.digest,
                  image.parts.config.size)]
        blobs += [(layer_file(layer.media_type, layer.digest), layer.digest, layer.size)
                  for layer in image.parts.layers]
        for name, digest, size in blobs:
            if name in written or digest in omit:
                continue
            written.add(name)
            with store.open(digest) as blob:
                yield from file_chunks(name, size, blob, _FILE_MODE)
    manifest = archive_manifest(images)
    yield from file_chunks("manifest.json", len(manifest), io.BytesIO(manifest), _FILE_MODE)
    yield END_OF_ARCHIVE
