"""Assemble ko's multi-platform index: it mirrors the base index (spec §4.4).

The index has the base index's media type and entry order; each entry keeps the base entry's
media type, platform, annotations and urls, with the digest and size of the new image. It is
built from an empty index, so the base index's own annotations are not copied; its
annotations are the user's plus ``base.name`` and ``base.digest``. On ``scratch`` the entries
are the requested platforms, in the order given, in an OCI index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from kotasks.baseimage import BaseRecord, base_platforms, matching_entry
from kotasks.gobuild.image import BASE_DIGEST, BASE_NAME
from kotasks.oci.descriptor import Descriptor, Platform
from kotasks.oci.layout import Layout
from kotasks.oci.manifest import encode_index
from kotasks.oci.mediatypes import OCI_INDEX


def assemble_index(store: Layout, base: BaseRecord,
                   children: Sequence[tuple[Platform, Descriptor]],
                   annotations: Sequence[tuple[str, str]]) -> Descriptor:
    """Write the index over ``children`` (platform, new image) to the store; describe it."""
    entries: list[Descriptor] = []
    if base.is_scratch:
        media_type = OCI_INDEX
        entries = [replace(image, platform=platform) for platform, image in children]
    else:
        media_type = base.media_type
        base_entries = base_platforms(store, base)
        ordered = []
        for platform, image in children:
            entry = matching_entry(base, base_entries, platform)
            ordered.append((base_entries.index(entry), Descriptor(
                entry.media_type, image.digest, image.size, entry.annotations, entry.platform,
                entry.urls)))
        entries = [desc for _, desc in sorted(ordered, key=lambda pair: pair[0])]
    marks = dict(annotations)
    if not base.is_scratch:
        marks[BASE_NAME] = base.name
        marks[BASE_DIGEST] = base.digest
    data = encode_index(media_type, entries, marks)
    return Descriptor(media_type, store.put(data), len(data))
