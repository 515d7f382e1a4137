"""CycloneDX 1.6 JSON carrying the facts of ko's SPDX documents, reproducible byte for byte."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from cyclonedx.model import HashAlgorithm, HashType
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from kotasks.errors import ImageError
from kotasks.oci.digest import digest_hex
from kotasks.oci.mediatypes import IMAGE_MANIFESTS
from kotasks.sbom.buildinfo import BuildInfo, Module, h1_to_sha256
from kotasks.sbom.spdx import (
    BaseImage,
    ImageFacts,
    IndexChild,
    base_image,
    child_qualifiers,
    created_time,
    go_purl,
)


def _sha256(hex_digest: str) -> list[HashType]:
    return [HashType(alg=HashAlgorithm.SHA_256, content=hex_digest)] if hex_digest else []


def _oci_component(kind: str, digest: str, qualifiers: Iterable[tuple[str, str]],
                   version: str = "") -> Component:
    """A container component named by its digest; repeated qualifiers are joined by commas."""
    merged: dict[str, str] = {}
    for key, value in qualifiers:
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    purl = PackageURL(type="oci", name=kind, version=digest, qualifiers=merged)
    return Component(type=ComponentType.CONTAINER, name=digest, version=version or None,
                     purl=purl, bom_ref=purl.to_string(), hashes=_sha256(digest_hex(digest)))


def _module_component(module: Module) -> Component:
    """A Go module as a library, under its original path and version when replaced."""
    purl = PackageURL.from_string(go_purl(module))
    return Component(type=ComponentType.LIBRARY, name=module.path, version=module.version,
                     purl=purl, bom_ref=purl.to_string(), hashes=_sha256(h1_to_sha256(module.sum)))


def _base_component(base: BaseImage) -> Component:
    qualifiers = [("repository_url", base.repository)] + ([("tag", base.tag)] if base.tag else [])
    return _oci_component("image", base.digest, qualifiers, version=base.name)


def _bom(subject: Component, created: str, tool: str) -> Bom:
    """An empty BOM about ``subject``: serial from its purl, timestamp from the image."""
    name, _, version = tool.partition(" ")
    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, str(subject.bom_ref)))
    bom.metadata.timestamp = created_time(created)
    bom.metadata.component = subject
    bom.metadata.tools.components.add(Component(
        type=ComponentType.APPLICATION, name=name, version=version or None,
        bom_ref=f"tool:{tool}"))
    return bom


def _encode(bom: Bom) -> bytes:
    return (JsonV1Dot6(bom).output_as_string(indent=2) + "\n").encode("utf-8")


def cyclonedx_image(facts: ImageFacts, info: BuildInfo, tool: str) -> bytes:
    """Return a CycloneDX 1.6 BOM of an image: its base, main module and dependencies."""
    image = _oci_component("image", facts.digest, [("mediaType", facts.media_type)])
    bom = _bom(image, facts.created, tool)
    direct: list[Component] = []
    base = base_image(facts.base_name, facts.base_digest)
    if base is not None:
        direct.append(_base_component(base))
    if info.main.path:
        main = _module_component(info.main)
        deps = [_module_component(dep) for dep in info.deps]
        direct.insert(0, main)
        bom.components.update(deps)
        bom.register_dependency(main, deps)
    bom.components.update(direct)
    bom.register_dependency(image, direct)
    return _encode(bom)


def cyclonedx_index(digest: str, media_type: str, created: str, children: Sequence[IndexChild],
                    base_name: str, base_digest: str, tool: str) -> bytes:
    """Return a CycloneDX 1.6 BOM of an index: one container component per image, and base."""
    index = _oci_component("index", digest, [("mediaType", media_type)])
    bom = _bom(index, created, tool)
    parts: list[Component] = []
    for child in children:
        if child.media_type not in IMAGE_MANIFESTS:
            raise ImageError(f"SBOM of index {digest}: entry {child.digest} has media type "
                             f"{child.media_type!r}, expected an image manifest")
        parts.append(_oci_component("image", child.digest, child_qualifiers(child),
                                    version=child.platform))
    base = base_image(base_name, base_digest)
    if base is not None:
        parts.append(_base_component(base))
    bom.components.update(parts)
    bom.register_dependency(index, parts)
    return _encode(bom)
