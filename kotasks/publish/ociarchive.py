"""``--oci-archive FILE``: every artifact of the run in one OCI layout tar (beyond ko).

Like ``--tarball`` but an index fits too (ko-build/ko#1709), so a multi-platform build can be
carried as one file and read by ``skopeo copy oci-archive:FILE:NAME:TAG …`` or
``podman load -i FILE``. Each publish step makes sure the blobs are at hand; the ``oci-archive``
task writes the file once, atomically, naming each artifact ``<name>:<tag>`` per tag.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kotasks.baseimage import BaseRecord
from kotasks.fsutil import atomic_writer
from kotasks.oci.descriptor import Descriptor
from kotasks.oci.layout import Layout
from kotasks.oci.ociarchive import oci_archive
from kotasks.publish.local import local_parts
from kotasks.publish.tarball import archive_reference
from kotasks.publish.target import PublishTarget

log = logging.getLogger("kotasks")


def publish_oci_archive(target: PublishTarget, store: Layout, root: Descriptor,
                        import_path: str, base: BaseRecord | None) -> dict[str, object]:
    """Make sure every blob of ``root`` is in the store; return the reference."""
    local_parts(store, root, base)
    return {"ref": archive_reference(target, import_path, root.digest)}


def write_oci_archive(store: Layout, path: str,
                      artifacts: Sequence[tuple[Descriptor, Sequence[str]]]) -> None:
    """Write the artifacts (each with its ``name:tag`` names) into ``path`` atomically."""
    log.info("Saving %s", path)
    with atomic_writer(path) as out:
        for chunk in oci_archive(store, artifacts):
            out.write(chunk)
    log.info("Saved %s", path)
