"""Send a built artifact to the configured sinks and return the values ko would print.

Each sink is a function in a module of its own (``layout``, ``registry``, ``tarball``,
``ociarchive``, ``daemon``, ``kind``) with one signature; they run in ko's order and the last
one's reference is the one printed.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from kotasks.baseimage import BaseRecord
from kotasks.oci.descriptor import Descriptor
from kotasks.oci.layout import Layout
from kotasks.oci.manifest import parse_index
from kotasks.oci.mediatypes import INDEXES
from kotasks.publish.target import PublishTarget
from kotasks.registry.reference import parse_repository
from kotasks.settings import Destination

log = logging.getLogger("kotasks")
_noted: set[str] = set()
_noted_lock = threading.Lock()

Sink = Callable[[PublishTarget, Layout, Descriptor, str, BaseRecord | None], dict[str, Any]]
#: what the registry sink pushes beside an image (its SBOMs), given the image's name
Attach = Callable[[str], None]


def _note_embedded_default(path: str, example: str) -> None:
    """Say once per run where images go when there is no KO_DOCKER_REPO."""
    with _noted_lock:
        if path in _noted:
            return
        _noted.add(path)
    log.info("KO_DOCKER_REPO is not set: images go to the OCI layout %s (try `skopeo inspect "
             "oci:%s:%s`)", path, path, example)


def publish_layout(target: PublishTarget, store: Layout, root: Descriptor, import_path: str,
                   base: BaseRecord | None) -> dict[str, Any]:
    """The OCI layout sink: ``<layout>@<digest>``."""
    from kotasks.publish.layout import layout_reference, write_layout

    write_layout(store, target.layout_path, root, target.layout_names(import_path), base)
    if target.embedded_default:
        _note_embedded_default(target.layout_path, target.layout_names(import_path)[0])
    return {"ref": layout_reference(target.layout_path, root.digest),
            "repository": target.layout_path}


def publish_registry(target: PublishTarget, store: Layout, root: Descriptor,
                     import_path: str, base: BaseRecord | None,
                     attach: Attach | None = None) -> dict[str, Any]:
    """The registry sink: push (with ``attach``, the SBOMs, once the image is there), then
    ko's printed form."""
    from kotasks.publish.registry import push, registry_reference

    name = target.registry_name(import_path)
    push(store, root, name, target.tags, base, target.insecure, target.jobs, attach)
    return {"ref": registry_reference(name, target.tags, root.digest, target.tag_only),
            "repository": str(parse_repository(name, "image name"))}


def publish_nop(target: PublishTarget, store: Layout, root: Descriptor, import_path: str,
                base: BaseRecord | None) -> dict[str, Any]:
    """``--push=false`` with nothing else: the reference ko computes, nothing written."""
    name = target.registry_name(import_path)
    ref = (f"{name}:{target.tags[0]}" if target.tag_only
           else f"{name}:{target.tags[0]}@{root.digest}")
    return {"ref": ref, "repository": name}


#: the sinks in modules of their own, imported only when used
_SINK_MODULES = {
    Destination.TARBALL: ("kotasks.publish.tarball", "publish_tarball"),
    Destination.OCI_ARCHIVE: ("kotasks.publish.ociarchive", "publish_oci_archive"),
    Destination.DAEMON: ("kotasks.publish.daemon", "publish_daemon"),
    Destination.KIND: ("kotasks.publish.kind", "publish_kind"),
}


def _sink(kind: str) -> Sink:
    builtin = {Destination.LAYOUT: publish_layout, Destination.REGISTRY: publish_registry,
               Destination.NOP: publish_nop}
    if kind in builtin:
        return builtin[kind]
    module, function = _SINK_MODULES[kind]
    sink: Sink = getattr(importlib.import_module(module), function)
    return sink


def publish(target: PublishTarget, store: Layout, root: Descriptor, import_path: str,
            base: BaseRecord | None, attach: Attach | None = None) -> dict[str, Any]:
    """Publish ``root`` to every sink in order (``attach`` runs with the registry push);
    return the last sink's values: ``ref``, ``digest``, ``repository`` (fully qualified)
    and an index's ``children``."""
    children = ([c.digest for c in parse_index(store.read(root.digest)).manifests]
                if root.media_type in INDEXES else [])
    values: dict[str, Any] = {}
    for kind in target.sinks:
        sink = (functools.partial(publish_registry, attach=attach)
                if kind == Destination.REGISTRY else _sink(kind))
        values = {"digest": root.digest, "children": children, "tags": list(target.tags),
                  "repository": target.registry_name(import_path),
                  **sink(target, store, root, import_path, base)}
    return values
