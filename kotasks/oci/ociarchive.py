"""A single-file OCI image layout (``oci-archive``), streamed from the store.

The tar holds ``oci-layout``, ``index.json`` (each artifact once per name, named by the
``org.opencontainers.image.ref.name`` annotation) and ``blobs/sha256/<hex>`` for every blob
the artifacts need, each once. Unlike a docker tarball it can hold an image index, so a
multi-platform build fits in one file (``skopeo copy oci-archive:FILE:NAME …``,
``podman load -i FILE``). Blobs are streamed from the store's files; the same artifacts give
the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

from kotasks.oci.descriptor import Descriptor
from kotasks.oci.digest import digest_hex
from kotasks.oci.encoding import go_json
from kotasks.oci.layout import REF_NAME, Layout
from kotasks.oci.manifest import image_parts
from kotasks.oci.mediatypes import OCI_INDEX
from kotasks.oci.tarwriter import END_OF_ARCHIVE, file_chunks

_FILE_MODE = 0o644
_LAYOUT_MARKER = b'{"imageLayoutVersion":"1.0.0"}'


def _blobs(store: Layout, root: Descriptor) -> list[tuple[str, int]]:
    """Every blob of an artifact (digest, size): the root, children, configs, layers."""
    blobs = [(root.digest, root.size)]
    for part in image_parts(store.read, root):
        blobs += [(part.manifest.digest, part.manifest.size),
                  (part.config.digest, part.config.size)]
        blobs += [(layer.digest, layer.size) for layer in part.layers]
    return blobs


def archive_index(artifacts: Sequence[tuple[Descriptor, Sequence[str]]]) -> bytes:
    """The archive's ``index.json``: one entry per (artifact, name)."""
    manifests = []
    for root, names in artifacts:
        for name in names:
            entry = root.to_json()
            entry["annotations"] = {**(entry.get("annotations") or {}), REF_NAME: name}
            manifests.append(entry)
    return go_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})


def oci_archive(store: Layout, artifacts: Sequence[tuple[Descriptor, Sequence[str]]]
                ) -> Iterator[bytes]:
    """Yield the archive's bytes in chunks."""
    index = archive_index(artifacts)
    for name, data in (("oci-layout", _LAYOUT_MARKER), ("index.json", index)):
        yield from file_chunks(name, len(data), io.BytesIO(data), _FILE_MODE)
    written: set[str] = set()
    for root, _ in artifacts:
        for digest, size in _blobs(store, root):
            if digest in written:
                continue
            written.add(digest)
            with store.open(digest) as blob:
                yield from file_chunks(f"blobs/sha256/{digest_hex(digest)}", size, blob,
                                       _FILE_MODE)
    yield END_OF_ARCHIVE
