"""``--tarball FILE``: every image of the run in one ``docker load``-able file, as ko.

Each image's publish step only checks that it is an image (a docker tarball cannot hold an
index, as in ko) and makes sure its layers are in the store; the file itself is written once,
atomically, by the ``tarball`` task after every image is done, with ``RepoTags``
``<name>:<tag>`` for each tag. The printed reference is the registry form.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kotasks.baseimage import BaseRecord
from kotasks.errors import UserError
from kotasks.fsutil import atomic_writer
from kotasks.oci.descriptor import Descriptor
from kotasks.oci.dockerarchive import ArchiveImage, docker_archive
from kotasks.oci.layout import Layout
from kotasks.oci.manifest import image_parts, parse_index
from kotasks.oci.mediatypes import INDEXES
from kotasks.publish.local import local_parts
from kotasks.publish.registry import registry_reference
from kotasks.publish.target import PublishTarget

log = logging.getLogger("kotasks")


def archive_reference(target: PublishTarget, import_path: str, digest: str) -> str:
    """The reference a file target prints: ``name@d``, or ``name:tag@d`` for one tag
    that is not ``latest`` (ko's tarball publisher)."""
    return registry_reference(target.registry_name(import_path), target.tags, digest, False)


def publish_tarball(target: PublishTarget, store: Layout, root: Descriptor, import_path: str,
                    base: BaseRecord | None) -> dict[str, object]:
    """Check that ``root`` fits a docker tarball and that its blobs are at hand."""
    if root.media_type in INDEXES:
        platforms = [str(c.platform) for c in parse_index(store.read(root.digest)).manifests]
        raise UserError(f"--tarball {target.tarball}: {import_path} is an index of "
                        f"{', '.join(platforms)}; a docker tarball holds single images "
                        "(build one platform, or use --oci-archive)")
    local_parts(store, root, base)
    return {"ref": archive_reference(target, import_path, root.digest)}


def write_tarball(store: Layout, path: str,
                  images: Sequence[tuple[Descriptor, Sequence[str]]]) -> None:
    """Write the images (each with its ``name:tag`` references) into ``path`` atomically."""
    archive = [ArchiveImage(image_parts(store.read, root)[0], tuple(names))
               for root, names in images]
    log.info("Saving %s", path)
    with atomic_writer(path) as out:
        for chunk in docker_archive(store, archive):
            out.write(chunk)
    log.info("Saved %s", path)
