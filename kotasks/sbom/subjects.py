"""What an SBOM says about its subject, read from the local store: digests, times, bases."""

from __future__ import annotations

import json

from kotasks.oci.descriptor import Descriptor
from kotasks.oci.encoding import GO_ZERO_TIME
from kotasks.oci.layout import Layout
from kotasks.oci.manifest import parse_index, parse_manifest
from kotasks.sbom.spdx import ImageFacts, IndexChild

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"


def image_facts(store: Layout, image: Descriptor) -> ImageFacts:
    """The facts an image SBOM records: digest, media type, created time, base."""
    manifest = parse_manifest(store.read(image.digest), image.media_type)
    config = json.loads(store.read(manifest.config.digest))
    return ImageFacts(digest=image.digest, media_type=image.media_type,
                      created=str(config.get("created") or GO_ZERO_TIME),
                      base_name=manifest.annotations.get(BASE_NAME, ""),
                      base_digest=manifest.annotations.get(BASE_DIGEST, ""))


def index_children(store: Layout, index: Descriptor) -> tuple[list[IndexChild], str, str, str]:
    """An index's children, the first child's created time, and the index's base."""
    parsed = parse_index(store.read(index.digest), index.media_type)
    children = []
    for entry in parsed.manifests:
        platform = entry.platform
        assert platform is not None, "kotasks indexes always record platforms"
        children.append(IndexChild(digest=entry.digest, media_type=entry.media_type,
                                   platform=str(platform), os=platform.os,
                                   architecture=platform.architecture,
                                   variant=platform.variant, os_version=platform.os_version,
                                   os_features=platform.os_features))
    created = GO_ZERO_TIME
    if parsed.manifests:
        created = image_facts(store, parsed.manifests[0]).created
    return (children, created, parsed.annotations.get(BASE_NAME, ""),
            parsed.annotations.get(BASE_DIGEST, ""))
