"""Send a built artifact to the configured sinks and return the reference ko would print."""

from __future__ import annotations

import logging
import threading

from kotasks.baseimage import BaseRecord
from kotasks.oci.descriptor import Descriptor
from kotasks.oci.layout import Layout
from kotasks.publish.layout import layout_reference, write_layout
from kotasks.publish.registry import push, registry_reference
from kotasks.publish.target import PublishTarget
from kotasks.registry.reference import parse_repository
from kotasks.settings import Destination

log = logging.getLogger("kotasks")
_noted: set[str] = set()
_noted_lock = threading.Lock()


def _note_embedded_default(path: str, example: str) -> None:
    """Say once per run where images go when there is no KO_DOCKER_REPO."""
    with _noted_lock:
        if path in _noted:
            return
        _noted.add(path)
    log.info("KO_DOCKER_REPO is not set: images go to the OCI layout %s (try `skopeo inspect "
             "oci:%s:%s`)", path, path, example)


def publish(target: PublishTarget, store: Layout, root: Descriptor, import_path: str,
            base: BaseRecord | None) -> str:
    """Publish ``root`` to every sink in order (layout, then registry); return the last ref."""
    reference = ""
    for sink in target.sinks:
        if sink == Destination.LAYOUT:
            write_layout(store, target.layout_path, root, target.layout_names(import_path), base)
            reference = layout_reference(target.layout_path, root.digest)
            if target.embedded_default:
                _note_embedded_default(target.layout_path, target.layout_names(import_path)[0])
        elif sink == Destination.REGISTRY:
            name = target.registry_name(import_path)
            push(store, root, name, target.tags, base, target.insecure, target.jobs)
            reference = registry_reference(name, target.tags, root.digest, target.tag_only)
        else:
            name = target.registry_name(import_path)
            reference = (f"{name}:{target.tags[0]}" if target.tag_only
                         else f"{name}:{target.tags[0]}@{root.digest}")
    return reference


def published_repository(target: PublishTarget, import_path: str) -> str:
    """Where the last sink put the artifact, fully qualified (``index.docker.io/…``)."""
    sink = target.sinks[-1]
    if sink == Destination.LAYOUT:
        return target.layout_path
    name = target.registry_name(import_path)
    return str(parse_repository(name, "image name")) if sink == Destination.REGISTRY else name
