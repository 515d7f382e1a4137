"""Load images into a Docker daemon (``-L``/``--local``, ``KO_DOCKER_REPO=ko.local…``), as ko.

The image is loaded as ``<name>:<manifest digest hex>`` from a docker archive streamed out of
the store, then given each ``--tags`` tag; the printed reference is that digest tag. An index
is reduced to its ``GOOS``/``GOARCH`` child first. A daemon that already holds the image ID
(the config digest) gets no archive, only the tags it lacks; one that holds the
``ko.local/…`` base the image was built on gets the archive without the base's layers (and
all of them again if it refuses that).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kotasks import progress
from kotasks.baseimage import BaseRecord
from kotasks.errors import DaemonError
from kotasks.oci.descriptor import Descriptor
from kotasks.oci.digest import digest_hex
from kotasks.oci.dockerarchive import ArchiveImage, docker_archive
from kotasks.oci.layout import Layout
from kotasks.oci.manifest import parse_manifest
from kotasks.publish.local import local_parts, single_image
from kotasks.publish.target import PublishTarget
from kotasks.settings import LOCAL_DOMAIN

if TYPE_CHECKING:
    from kotasks.publish.dockerengine import Engine

log = logging.getLogger("kotasks")


@dataclass(frozen=True)
class LocalImage:
    """The one image a daemon or kind node gets, and the names it gets it under."""

    name: str
    image: Descriptor
    image_id: str
    digest_tag: str
    tags: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        """Every ``name:tag`` the image ends up with, the digest tag first."""
        return [self.digest_tag, *(f"{self.name}:{tag}" for tag in self.tags)]

    def values(self) -> dict[str, object]:
        """What the publish task records (its up-to-date check reads ``image_id``/``names``)."""
        return {"ref": self.digest_tag, "digest": self.image.digest, "children": [],
                "repository": self.name, "image_id": self.image_id, "names": self.names}


def local_image(target: PublishTarget, store: Layout, root: Descriptor, import_path: str,
                base: BaseRecord | None) -> tuple[LocalImage, ArchiveImage]:
    """Pick the image to load and name it as ko does; every blob it needs is in the store."""
    name = target.registry_name(import_path)
    image = single_image(store, root, target.environ, name)
    [parts] = local_parts(store, image, base)
    digest_tag = f"{name}:{digest_hex(image.digest)}"
    local = LocalImage(name, image, parts.config.digest, digest_tag, target.tags)
    return local, ArchiveImage(parts, (digest_tag,))


def shown_as_sent(chunks: Iterable[bytes], archive: ArchiveImage,
                  omit: frozenset[str] = frozenset()) -> Iterator[bytes]:
    """Pass the archive's chunks on, counting them as sent in the live view (on a
    terminal)."""
    total = archive.parts.config.size + sum(layer.size for layer in archive.parts.layers
                                            if layer.digest not in omit)
    with progress.transfer(total) as shown:
        for chunk in chunks:
            shown.advance(len(chunk))
            yield chunk


def held_base_layers(engine: Engine, store: Layout, base: BaseRecord | None) -> frozenset[str]:
    """The layers of a base that came from this daemon (``ko.local/…``) while it still holds
    that image: they need not be sent back."""
    if base is None or base.registry != LOCAL_DOMAIN or not store.has(base.digest):
        return frozenset()
    manifest = parse_manifest(store.read(base.digest), base.media_type)
    if engine.image_tags(manifest.config.digest) is None:
        return frozenset()
    return frozenset(layer.digest for layer in manifest.layers)


def publish_daemon(target: PublishTarget, store: Layout, root: Descriptor, import_path: str,
                   base: BaseRecord | None) -> dict[str, object]:
    """Load the image into the daemon unless it holds it; add the missing tags."""
    from kotasks.publish.dockerengine import Engine

    local, archive = local_image(target, store, root, import_path, base)
    engine = Engine(target.environ)
    held = engine.image_tags(local.image_id)
    if held is None:
        log.info("Loading %s", local.digest_tag)
        omit = held_base_layers(engine, store, base)
        try:
            engine.load(shown_as_sent(docker_archive(store, [archive], omit), archive, omit),
                        local.digest_tag)
        except DaemonError:
            if not omit:
                raise
            log.info("kotasks: the daemon wants every layer of %s: loading them all",
                     local.digest_tag)
            engine.load(shown_as_sent(docker_archive(store, [archive]), archive),
                        local.digest_tag)
        log.info("Loaded %s", local.digest_tag)
        held = [local.digest_tag]
    elif local.digest_tag not in held:
        engine.tag(local.image_id, local.name, digest_hex(local.image.digest))
    for tag in target.tags:
        if f"{local.name}:{tag}" not in held:
            log.info("Adding tag %s", tag)
            engine.tag(local.digest_tag, local.name, tag)
            log.info("Added tag %s", tag)
    return local.values()
