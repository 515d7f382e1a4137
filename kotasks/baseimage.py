"""Base images: resolve a reference, keep its manifests and configs in the store, pick a platform.

``scratch`` is an empty base (no layers; the config names the target platform). Anything else
is fetched from its registry as-is: an index stays an index, an image stays an image. What is
fetched lands in the local store, so a later run (or an offline one) reads it from disk.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from kotasks.baselock import LockedBase
from kotasks.daemonbase import import_daemon_base
from kotasks.errors import ImageError, UserError
from kotasks.oci.descriptor import Descriptor, Platform
from kotasks.oci.digest import sha256_digest
from kotasks.oci.encoding import GO_ZERO_TIME, go_json
from kotasks.oci.layout import Layout
from kotasks.oci.manifest import Manifest, media_type_of, parse_index, parse_manifest
from kotasks.oci.mediatypes import INDEXES, OCI_CONFIG, OCI_MANIFEST
from kotasks.platform import PlatformSelection, PlatformSpec, select_entries
from kotasks.registry.client import client_for
from kotasks.registry.reference import Reference, parse_reference
from kotasks.settings import LOCAL_DOMAIN, SCRATCH, is_daemon_base, parse_base

log = logging.getLogger("kotasks")


@dataclass(frozen=True)
class BaseRecord:
    """A resolved base reference: what the ``base:`` task returns."""

    reference: str
    name: str = ""
    registry: str = ""
    repository: str = ""
    digest: str = ""
    media_type: str = ""
    insecure: bool = False

    @property
    def is_scratch(self) -> bool:
        return self.reference == SCRATCH

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields (doit task values)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BaseRecord:
        """Read :meth:`to_json`'s output (other keys, such as doit's, are ignored)."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class BaseImage:
    """One platform's base image: its manifest, config and digest."""

    record: BaseRecord
    digest: str
    manifest: Manifest
    config: dict[str, Any]
    platform: Platform


def annotation_name(ref: Reference) -> str:
    """ko's ``base.name``: the fully qualified name, ``repo@digest`` for digest references."""
    if ref.digest:
        return f"{ref.repository}@{ref.digest}"
    return f"{ref.repository}:{ref.tag}"


def resolve_base(store: Layout, reference: str, insecure: bool = False) -> BaseRecord:
    """Resolve ``reference`` to a manifest digest, fetching the manifest if it is new (a
    ``ko.local/…`` base is copied from the Docker daemon: :func:`resolve_daemon_base`)."""
    ref = parse_base(reference, "base image")
    if ref is None:
        return BaseRecord(SCRATCH)
    if is_daemon_base(ref):
        return resolve_daemon_base(store, reference, os.environ)[0]
    path = ref.repository.path
    if ref.digest and store.has(ref.digest):
        return BaseRecord(reference, annotation_name(ref), ref.registry, path, ref.digest,
                          media_type_of(store.read(ref.digest)), insecure)
    client = client_for(ref.registry, insecure)
    head = None if ref.digest else client.head_manifest(path, ref.identifier)
    if head is not None and store.has(head.digest) and head.media_type:
        digest, media_type = head.digest, head.media_type
    else:
        info = client.get_manifest(path, ref.identifier)
        store.put(info.data)
        digest, media_type = info.digest, media_type_of(info.data, info.media_type)
    return BaseRecord(reference, annotation_name(ref), ref.registry, path, digest, media_type,
                      insecure)


def announce_base(record: BaseRecord, import_path: str) -> None:
    """ko's ``Using base <ref>@<digest> for <import path>`` line (the digest not repeated
    for a digest reference; no line for ``scratch``, which is not fetched)."""
    ref = parse_base(record.reference, "base image")
    if ref is not None:
        shown = str(ref) if ref.digest else f"{ref}@{record.digest}"
        log.info("Using base %s for %s", shown, import_path)


def resolve_locked(store: Layout, reference: str, locked: LockedBase,
                   insecure: bool = False) -> BaseRecord:
    """The record of a base ``kotasks.lock`` pins: the locked digest, never a tag lookup
    (the manifest is fetched by digest only if the store lacks it)."""
    ref = parse_reference(reference, "base image")
    path = ref.repository.path
    if not store.has(locked.digest):
        store.put(client_for(ref.registry, insecure).get_manifest(path, locked.digest).data)
    return BaseRecord(reference, annotation_name(ref), ref.registry, path, locked.digest,
                      locked.media_type, insecure)


def lock_entry(store: Layout, record: BaseRecord) -> LockedBase:
    """What the lock records of a resolved base: its digest and an index's platforms (the
    first entry of each platform, the one a build takes)."""
    platforms: dict[str, str] = {}
    for entry in base_platforms(store, record):
        if entry.platform is not None:
            platforms.setdefault(str(entry.platform), entry.digest)
    return LockedBase(record.digest, record.media_type, tuple(sorted(platforms.items())))


def fetch_base_content(store: Layout, record: BaseRecord, layers: bool) -> None:
    """Store every manifest and config of a base (each platform of an index), and its
    layers if ``layers``: what a build into a layout, a tarball or a daemon reads offline."""
    children = [(e.digest, e.media_type) for e in base_platforms(store, record)] or \
        [(record.digest, record.media_type)]
    for digest, media_type in children:
        manifest = _manifest(store, record, digest, media_type)
        _config(store, record, manifest)
        if layers:
            for layer in manifest.layers:
                fetch_blob(store, record, layer.digest)


def resolve_daemon_base(store: Layout, reference: str, environ: Mapping[str, str]
                        ) -> tuple[BaseRecord, str]:
    """The record of a base in the local Docker daemon, copied into the store, and its
    image ID (what the base task's up-to-date check compares)."""
    ref = parse_reference(reference, "base image")
    manifest, image_id = import_daemon_base(store, ref, environ)
    return BaseRecord(reference, annotation_name(ref), ref.registry, ref.repository.path,
                      manifest.digest, manifest.media_type), image_id


def _manifest(store: Layout, record: BaseRecord, digest: str, media_type: str) -> Manifest:
    """A base image manifest, from the store or fetched into it."""
    if not store.has(digest):
        client = client_for(record.registry, record.insecure)
        store.put(client.get_manifest(record.repository, digest).data)
    raw = store.read(digest)
    return parse_manifest(raw, media_type_of(raw, media_type))


def _config(store: Layout, record: BaseRecord, manifest: Manifest) -> dict[str, Any]:
    """A base image config, from the store or fetched into it."""
    fetch_blob(store, record, manifest.config.digest)
    config: dict[str, Any] = json.loads(store.read(manifest.config.digest))
    return config


def _config_platform(config: dict[str, Any]) -> Platform:
    """A single-image base's platform as ko reads it: os, architecture, os.version."""
    return Platform(str(config.get("os") or "linux"), str(config.get("architecture") or "amd64"),
                    "", str(config.get("os.version") or ""))


def fetch_blob(store: Layout, record: BaseRecord, digest: str) -> None:
    """Make sure a base layer blob is in the store (streamed from its registry if missing)."""
    if store.has(digest):
        return
    if record.registry == LOCAL_DOMAIN:
        raise ImageError(f"base image {record.reference}: blob {digest} is no longer in the "
                         "store; the next run copies the base from the Docker daemon again")
    client = client_for(record.registry, record.insecure)
    with client.open_blob(record.repository, digest) as resp:
        store.ingest(resp.raw, expected=digest)


def base_platforms(store: Layout, record: BaseRecord) -> list[Descriptor]:
    """The entries of a base index (an empty list for a single image or scratch).

    A nested index is an error, as in ko.
    """
    if record.is_scratch or record.media_type not in INDEXES:
        return []
    entries = list(parse_index(store.read(record.digest), record.media_type).manifests)
    for entry in entries:
        if entry.media_type in INDEXES:
            raise ImageError(f"base image {record.reference}: nested index {entry.digest} is "
                             "not supported")
    return entries


def matching_entry(record: BaseRecord, entries: Sequence[Descriptor],
                   platform: Platform) -> Descriptor:
    """The first base index entry an image for ``platform`` uses (an error if none does)."""
    chosen = select_entries(PlatformSelection(False, (PlatformSpec.of(platform),)),
                            [e.platform for e in entries], f"base image {record.reference}")
    return entries[chosen[0]]


def single_image_platform(store: Layout, record: BaseRecord) -> Platform:
    """A single-image base's platform as ko reads it: os, architecture, os.version."""
    manifest = _manifest(store, record, record.digest, record.media_type)
    return _config_platform(_config(store, record, manifest))


def _scratch(record: BaseRecord, platform: Platform) -> BaseImage:
    config: dict[str, Any] = {"architecture": platform.architecture, "created": GO_ZERO_TIME,
                              "os": platform.os}
    if platform.os_version:
        config["os.version"] = platform.os_version
    if platform.variant:
        config["variant"] = platform.variant
    config["rootfs"] = {"type": "layers", "diff_ids": []}
    config["config"] = {}
    data = go_json(config)
    manifest = Manifest(OCI_MANIFEST, Descriptor(OCI_CONFIG, sha256_digest(data), len(data)),
                        (), {})
    return BaseImage(record, "", manifest, config, platform)


def base_for_platform(store: Layout, record: BaseRecord, platform: Platform) -> BaseImage:
    """Return the base image to build ``platform`` on, fetching its manifest and config."""
    if record.is_scratch:
        return _scratch(record, platform)
    digest, media_type = record.digest, record.media_type
    if media_type in INDEXES:
        match = matching_entry(record, base_platforms(store, record), platform)
        digest, media_type = match.digest, match.media_type
    manifest = _manifest(store, record, digest, media_type)
    config = _config(store, record, manifest)
    if record.media_type not in INDEXES:
        # ko reads os, architecture and os.version of a single-image base, not its variant
        found = replace(_config_platform(config), variant=platform.variant)
        if not PlatformSpec.of(platform).matches(found):
            raise UserError(f"base image {record.reference} is for {found.os}/"
                            f"{found.architecture}, which does not match the requested "
                            f"platform {platform}")
    return BaseImage(record, digest, manifest, config, platform)
