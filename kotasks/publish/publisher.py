"""Send a built artifact to the configured sinks and return the reference ko would print."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kotasks.baseimage import BaseRecord
from kotasks.naming import Naming, image_name
from kotasks.oci.descriptor import Descriptor
from kotasks.oci.layout import Layout
from kotasks.publish.layout import layout_reference, write_layout
from kotasks.publish.registry import push, registry_reference
from kotasks.settings import Destination

log = logging.getLogger("kotasks")



@dataclass(frozen=True)
class PublishTarget:
    """Where and under which names an artifact is published (all JSON-friendly)."""

    sinks: tuple[str, ...]
    docker_repo: str
    layout_path: str
    tags: tuple[str, ...]
    tag_only: bool
    naming: Naming
    insecure: bool = False
    jobs: int = 4
    embedded_default: bool = False

    def registry_name(self, import_path: str) -> str:
        """The repository an import path is pushed to (ko lowercases the path first)."""
        return image_name(self.docker_repo, import_path.lower(), self.naming)

    def layout_names(self, import_path: str) -> list[str]:
        """The ref names given in the layout's index.json, one per tag."""
        name = image_name("", import_path.lower(), self.naming) or "ko-app"
        return [f"{name}:{tag}" for tag in self.tags]

    def describe(self) -> dict[str, object]:
        """The fields that decide what is published where (for up-to-date checks)."""
        return {"sinks": list(self.sinks), "repo": self.docker_repo, "layout": self.layout_path,
                "tags": list(self.tags), "tag_only": self.tag_only, "naming": self.naming.value,
                "insecure": self.insecure}


def publish(target: PublishTarget, store: Layout, root: Descriptor, import_path: str,
            base: BaseRecord | None) -> str:
    """Publish ``root`` to every sink in order (layout, then registry); return the last ref."""
    reference = ""
    for sink in target.sinks:
        if sink == Destination.LAYOUT:
            write_layout(store, target.layout_path, root, target.layout_names(import_path), base)
            reference = layout_reference(target.layout_path, root.digest)
            if target.embedded_default:
                log.info("KO_DOCKER_REPO is not set: the image is in the OCI layout %s (try "
                         "`skopeo inspect oci:%s:%s`)", target.layout_path, target.layout_path,
                         target.layout_names(import_path)[0])
        elif sink == Destination.REGISTRY:
            name = target.registry_name(import_path)
            push(store, root, name, target.tags, base, target.insecure, target.jobs)
            reference = registry_reference(name, target.tags, root.digest, target.tag_only)
        else:
            name = image_name(target.docker_repo, import_path.lower(), target.naming)
            reference = (f"{name}:{target.tags[0]}" if target.tag_only
                         else f"{name}:{target.tags[0]}@{root.digest}")
    return reference
