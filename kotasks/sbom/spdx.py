"""SPDX 2.3 JSON documents in the shape ko gives the SBOMs of its images and indexes (spec §7)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote_plus

from spdx_tools.spdx.model import (
    Actor,
    ActorType,
    Checksum,
    ChecksumAlgorithm,
    CreationInfo,
    Document,
    ExternalPackageRef,
    ExternalPackageRefCategory,
    Package,
    PackagePurpose,
    Relationship,
    RelationshipType,
    SpdxNoAssertion,
)
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from spdx_tools.spdx.validation.uri_validators import validate_download_location
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from kotasks.errors import ImageError, UserError
from kotasks.oci.digest import check_digest, digest_hex
from kotasks.oci.mediatypes import IMAGE_MANIFESTS
from kotasks.registry.reference import parse_reference
from kotasks.sbom.buildinfo import BuildInfo, Module, h1_to_sha256

DOCUMENT_ID = "SPDXRef-DOCUMENT"
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9.-]")
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?"
                      r"(?:[Zz]|([+-])(\d{2}):(\d{2}))$")


@dataclass(frozen=True)
class ImageFacts:
    """What an image SBOM says about the image itself (its config and manifest annotations)."""

    digest: str
    media_type: str
    created: str
    base_name: str = ""
    base_digest: str = ""


@dataclass(frozen=True)
class IndexChild:
    """One image of an index, as its index entry describes it."""

    digest: str
    media_type: str
    platform: str
    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()


def created_time(created: str) -> datetime:
    """Return an image config's RFC 3339 ``created`` as an aware datetime ("" is Go's zero time).

    Fractions of a second are dropped: neither ko's SPDX format nor CycloneDX keeps them.
    """
    match = _RFC3339.match(created or "0001-01-01T00:00:00Z")
    if match is None:
        raise ImageError(f"image created time {created!r} is not an RFC 3339 timestamp")
    year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    offset = timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                        tzinfo=timezone(-offset if sign == "-" else offset))
    except ValueError as exc:
        raise ImageError(f"image created time {created!r}: {exc}") from None


def id_part(text: str) -> str:
    """Return ``text`` with every character an SPDX ID may not hold replaced by ``-``."""
    return _NOT_IN_ID.sub("-", text)


def module_id(module: Module) -> str:
    """Return ko's SPDX ID of a module: ``SPDXRef-Package-<path, / as .>-<version>``."""
    return f"SPDXRef-Package-{id_part(module.path.replace('/', '.'))}-{id_part(module.version)}"


def oci_id(digest: str) -> str:
    """Return ko's SPDX ID of an image or index: ``SPDXRef-Package-sha256-<hex>``."""
    return f"SPDXRef-Package-sha256-{digest_hex(digest)}"


def go_purl(module: Module) -> str:
    """Return ko's golang purl of a module (first two path elements lowercased)."""
    parts = module.path.split("/")
    if len(parts) > 2:
        parts[:2] = [parts[0].lower(), parts[1].lower()]
    return f"pkg:golang/{'/'.join(parts)}@{module.version}?type=module"


def oci_purl(name: str, digest: str, qualifiers: Sequence[tuple[str, str]]) -> str:
    """Return ko's oci purl: qualifiers URL-encoded (Go's url.Values) and sorted by key."""
    ordered = sorted(qualifiers, key=lambda pair: pair[0])
    query = "&".join(f"{quote_plus(key, safe='')}={quote_plus(value, safe='')}"
                     for key, value in ordered)
    return f"pkg:oci/{name}@{digest}" + (f"?{query}" if query else "")


def child_qualifiers(child: IndexChild) -> list[tuple[str, str]]:
    """Return the purl qualifiers ko gives an index's child image (platform and media type)."""
    pairs = [("mediaType", child.media_type)]
    if child.architecture:
        pairs.append(("arch", child.architecture))
    if child.os:
        pairs.append(("os", child.os))
    if child.variant:
        pairs.append(("variant", child.variant))
    if child.os_version:
        pairs.append(("os-version", child.os_version))
    pairs.extend(("os-feature", feature) for feature in child.os_features)
    return pairs


@dataclass(frozen=True)
class BaseImage:
    """The base image an image or index names in its annotations."""

    name: str  # the base.name annotation
    digest: str
    repository: str
    tag: str  # only for tag references, as ko's purl ``tag`` qualifier

    @property
    def purl(self) -> str:
        """Return the base image's oci purl (``repository_url`` and, for tags, ``tag``)."""
        qualifiers = [("repository_url", self.repository)]
        if self.tag:
            qualifiers.append(("tag", self.tag))
        return oci_purl("image", self.digest, qualifiers)


def base_image(base_name: str, base_digest: str) -> BaseImage | None:
    """Return the base image the annotations name, or None unless both are set (as ko)."""
    if not base_name or not base_digest:
        return None
    try:
        ref = parse_reference(base_name, "base image annotation")
    except UserError as exc:
        raise ImageError(f"SBOM: {exc}") from None
    tag = "" if ref.digest else ref.tag
    return BaseImage(base_name, check_digest(base_digest), str(ref.repository), tag)


def _package(spdx_id: str, name: str, purl: str, *, download: str = "", version: str = "",
             sha256: str = "", container: bool = False) -> Package:
    """One package as ko writes them: no licence or copyright claims, files not analysed."""
    return Package(
        spdx_id=spdx_id, name=name, version=version or None,
        download_location=download or SpdxNoAssertion(), files_analyzed=False,
        license_concluded=SpdxNoAssertion(), license_declared=SpdxNoAssertion(),
        copyright_text=SpdxNoAssertion(),
        primary_package_purpose=PackagePurpose.CONTAINER if container else None,
        checksums=[Checksum(ChecksumAlgorithm.SHA256, sha256)] if sha256 else [],
        external_references=[ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER,
                                                "purl", purl)])


def _base_package(base: BaseImage) -> Package:
    return _package(oci_id(base.digest), f"{base.repository}@{base.digest}", base.purl,
                    version=base.name, sha256=digest_hex(base.digest))


def _module_packages(image_id: str, info: BuildInfo) -> tuple[list[Package], list[Relationship]]:
    """The main module and its dependencies (replaced ones under their original path)."""
    if not info.main.path:
        return [], []
    main_id = module_id(info.main)
    download = f"https://{info.main.path}"
    if validate_download_location(download):  # a path without a host ("app"): no URL
        download = ""
    packages = [_package(main_id, info.main.path, go_purl(info.main), download=download)]
    relationships = [Relationship(image_id, RelationshipType.CONTAINS, main_id)]
    for dep in info.deps:
        packages.append(_package(
            module_id(dep), dep.path, go_purl(dep), version=dep.version,
            download=f"https://proxy.golang.org/{dep.path}/@v/{dep.version}.zip",
            sha256=h1_to_sha256(dep.sum)))
        relationships.append(Relationship(main_id, RelationshipType.DEPENDS_ON, module_id(dep)))
    return packages, relationships


def _document(digest: str, created: str, tool: str, packages: list[Package],
              relationships: list[Relationship]) -> Document:
    """ko's starter document around ``packages``, created when the image was."""
    wall_clock = created_time(created).replace(tzinfo=None)  # ko's quirk: local time, "Z"
    info = CreationInfo(
        spdx_version="SPDX-2.3", spdx_id=DOCUMENT_ID, name=f"sbom-{digest}",
        document_namespace=f"http://spdx.org/spdxdocs/ko/{digest}", data_license="CC0-1.0",
        creators=[Actor(ActorType.TOOL, tool)], created=wall_clock)
    return Document(info, packages=packages, relationships=relationships)


def _encode(document: Document, describes_relationship: bool) -> bytes:
    """Validate and write ``document``, then give it ko's layout.

    spdx-tools' writer indents by 4 and has no ``documentDescribes``; ko indents by 2, ends
    with a newline, lists the described package in ``documentDescribes`` and, for an index,
    not among the relationships.
    """
    messages = validate_full_spdx_document(document)
    if messages:
        raise ImageError("invalid SPDX document: "
                         + "; ".join(message.validation_message for message in messages))
    stream = io.StringIO()
    write_document_to_stream(document, stream, validate=False)
    written: dict[str, Any] = json.loads(stream.getvalue())
    described = [rel.related_spdx_element_id for rel in document.relationships
                 if rel.spdx_element_id == DOCUMENT_ID
                 and rel.relationship_type == RelationshipType.DESCRIBES]
    out: dict[str, Any] = {}
    for key, value in written.items():
        out[key] = value
        if key == "documentNamespace":
            out["documentDescribes"] = described
    if not describes_relationship:
        out["relationships"] = [rel for rel in out["relationships"]
                                if rel["relationshipType"] != "DESCRIBES"]
    return (json.dumps(out, indent=2) + "\n").encode("utf-8")


def spdx_image(facts: ImageFacts, info: BuildInfo, tool: str) -> bytes:
    """Return ko's SPDX document for one image: image, base, main module, dependencies."""
    image_id = oci_id(facts.digest)
    packages = [_package(image_id, facts.digest,
                         oci_purl("image", facts.digest, [("mediaType", facts.media_type)]),
                         container=True)]
    relationships = [Relationship(DOCUMENT_ID, RelationshipType.DESCRIBES, image_id)]
    base = base_image(facts.base_name, facts.base_digest)
    if base is not None:
        packages.append(_base_package(base))
        relationships.append(Relationship(image_id, RelationshipType.DESCENDANT_OF,
                                          oci_id(base.digest)))
    modules, uses = _module_packages(image_id, info)
    document = _document(facts.digest, facts.created, tool, packages + modules,
                         relationships + uses)
    return _encode(document, describes_relationship=True)


def spdx_index(digest: str, media_type: str, created: str, children: Sequence[IndexChild],
               base_name: str, base_digest: str, tool: str) -> bytes:
    """Return ko's SPDX document for an index: index, base, then one package per image."""
    index_id = oci_id(digest)
    packages = [_package(index_id, digest, oci_purl("index", digest, [("mediaType", media_type)]),
                         sha256=digest_hex(digest), container=True)]
    # ko writes no DESCRIBES relationship for an index; the model needs one to validate
    relationships = [Relationship(DOCUMENT_ID, RelationshipType.DESCRIBES, index_id)]
    base = base_image(base_name, base_digest)
    if base is not None:
        packages.append(_base_package(base))
        relationships.append(Relationship(index_id, RelationshipType.DESCENDANT_OF,
                                          oci_id(base.digest)))
    for child in children:
        if child.media_type not in IMAGE_MANIFESTS:
            raise ImageError(f"SBOM of index {digest}: entry {child.digest} has media type "
                             f"{child.media_type!r}, expected an image manifest")
        packages.append(_package(oci_id(child.digest), child.digest,
                                 oci_purl("image", child.digest, child_qualifiers(child)),
                                 version=child.platform, sha256=digest_hex(child.digest),
                                 container=True))
        relationships.append(Relationship(index_id, RelationshipType.VARIANT_OF,
                                          oci_id(child.digest)))
    document = _document(digest, created, tool, packages, relationships)
    return _encode(document, describes_relationship=False)
