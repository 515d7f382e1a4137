"""Base images at load time: the platforms an index offers, remembered for KOTASKS_BASE_TTL.

``--platform=all``, partial specs and platform lists are expanded against the base index
when tasks are made, so ``doit list`` and task names know every platform. What a base
reference resolved to is remembered in ``.kotasks/bases/``, written by the ``base:`` task
and by this module; within the TTL no request is made at load time.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import TYPE_CHECKING

from kotasks.errors import UserError
from kotasks.fsutil import write_atomic
from kotasks.oci.descriptor import Platform
from kotasks.oci.layout import Layout
from kotasks.platform import PlatformSelection, select_entries
from kotasks.settings import SCRATCH, Settings

if TYPE_CHECKING:
    from kotasks.baseimage import BaseRecord


def _cache_path(state_dir: str, reference: str, insecure: bool) -> str:
    key = hashlib.sha256(f"{reference}|{insecure}".encode()).hexdigest()[:24]
    return os.path.join(state_dir, "bases", f"{key}.json")


def remember(state_dir: str, record: BaseRecord) -> None:
    """Note when and to what a base reference resolved."""
    write_atomic(_cache_path(state_dir, record.reference, record.insecure),
                 json.dumps({"checked": time.time(), "record": record.to_json()}).encode())


def known_base(settings: Settings, reference: str) -> BaseRecord:
    """The base record: the lock's, if it pins the reference; else from the cache if fresh
    and complete, else resolved now."""
    from kotasks.baseimage import BaseRecord, resolve_base, resolve_locked

    store = Layout(settings.store_path)
    locked = settings.lock.bases.get(reference) if settings.lock is not None else None
    if locked is not None:
        return resolve_locked(store, reference, locked, settings.insecure)
    path = _cache_path(settings.state_dir, reference, settings.insecure)
    try:
        with open(path, "rb") as f:
            cached = json.load(f)
        record = BaseRecord.from_json(cached["record"])
        if time.time() - float(cached["checked"]) < settings.base_ttl and store.has(
                record.digest):
            return record
    except (OSError, ValueError, KeyError, TypeError):
        pass
    record = resolve_base(store, reference, settings.insecure)
    remember(settings.state_dir, record)
    return record


def platforms_for(settings: Settings, reference: str) -> tuple[Platform, ...]:
    """The concrete platforms to build on ``reference`` for the selected platforms."""
    selection: PlatformSelection = settings.platforms
    concrete = not selection.all and all(s.is_concrete for s in selection.specs)
    if concrete and (len(selection.specs) == 1 or reference == SCRATCH):
        return tuple(spec.platform() for spec in selection.specs)
    if reference == SCRATCH:
        raise UserError(f"platform {selection}: the scratch base has no platforms to match; "
                        "name each platform as os/arch[/variant]")
    from kotasks.baseimage import base_platforms, single_image_platform

    record = known_base(settings, reference)
    store = Layout(settings.store_path)
    entries = base_platforms(store, record)
    if entries:
        chosen = select_entries(selection, [e.platform for e in entries],
                                f"base image {reference}")
        return tuple(entries[i].platform or Platform("", "") for i in chosen)
    platform = single_image_platform(store, record)
    if not selection.matches(platform):
        raise UserError(f"base image {reference} is for {platform}, which does not match the "
                        f"requested platforms {selection}")
    return (platform,)

