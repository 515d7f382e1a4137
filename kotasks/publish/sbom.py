"""Attach SBOMs in the registry as ko does: a cosign "static file" tagged sha256-<hex>.sbom.

The attachment goes into the image's repository, or into ``COSIGN_REPOSITORY`` when set.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from kotasks.oci.digest import sha256_digest
from kotasks.oci.layout import Layout
from kotasks.registry.client import client_for
from kotasks.registry.reference import parse_repository
from kotasks.sbom.attach import sbom_attachment, sbom_tag

log = logging.getLogger("kotasks")


@dataclass(frozen=True)
class SbomRecord:
    """An SBOM document in the store and the image (or index) it describes."""

    image: str
    digest: str
    media_type: str


def push_sboms(store: Layout, name: str, sboms: Sequence[SbomRecord], insecure: bool,
               cosign_repository: str = "") -> None:
    """Push each SBOM as an attachment of its image in ``name``'s repository."""
    target = parse_repository(cosign_repository or name, "SBOM repository")
    client = client_for(target.registry, insecure)
    for sbom in sboms:
        attachment = sbom_attachment(store.read(sbom.digest), sbom.media_type)
        for blob in (attachment.config, attachment.layer):
            digest = sha256_digest(blob)
            if not client.has_blob(target.path, digest):
                client.upload_blob(target.path, digest, len(blob),
                                   functools.partial(io.BytesIO, blob))
        tag = sbom_tag(sbom.image)
        client.put_manifest(target.path, tag, attachment.manifest,
                            attachment.manifest_media_type)
        log.info("Published SBOM %s:%s", target, tag)
