"""The cosign "static file" image ko pushes next to an image to carry its SBOM."""

from __future__ import annotations

from dataclasses import dataclass

from kotasks.oci.descriptor import Descriptor
from kotasks.oci.digest import digest_hex, sha256_digest
from kotasks.oci.encoding import GO_ZERO_TIME, go_json
from kotasks.oci.manifest import encode_manifest
from kotasks.oci.mediatypes import OCI_CONFIG, OCI_MANIFEST

SPDX_MEDIA_TYPE = "text/spdx+json"
CYCLONEDX_MEDIA_TYPE = "application/vnd.cyclonedx+json"


@dataclass(frozen=True)
class Attachment:
    """An OCI image manifest and the two blobs it names: config and the one layer."""

    manifest: bytes
    manifest_media_type: str
    config: bytes
    layer: bytes


def _config(diff_id: str) -> bytes:
    """Return go-containerregistry's config of the empty image plus one layer ``diff_id``."""
    return go_json({
        "architecture": "",
        "created": GO_ZERO_TIME,
        "history": [{"created": GO_ZERO_TIME}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "config": {},
    })


def sbom_attachment(document: bytes, media_type: str) -> Attachment:
    """Return the static-file image carrying ``document`` as one uncompressed layer."""
    layer = Descriptor(media_type, sha256_digest(document), len(document))
    config = _config(layer.digest)
    config_desc = Descriptor(OCI_CONFIG, sha256_digest(config), len(config))
    manifest = encode_manifest(OCI_MANIFEST, config_desc, [layer], None)
    return Attachment(manifest, OCI_MANIFEST, config, document)


def sbom_tag(image_digest: str) -> str:
    """Return the tag cosign and ko give an image's SBOM: ``sha256-<hex>.sbom``."""
    return f"sha256-{digest_hex(image_digest)}.sbom"
