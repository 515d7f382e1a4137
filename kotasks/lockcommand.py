"""``kotasks lock`` and ``doit lock``: write, update and fetch the module's kotasks.lock."""

from __future__ import annotations

import logging

from kotasks.baseimage import fetch_base_content, lock_entry, resolve_base, resolve_locked
from kotasks.baselock import LockedBase, write_lock
from kotasks.errors import UserError
from kotasks.oci.layout import Layout
from kotasks.registry.reference import parse_reference
from kotasks.settings import SCRATCH, Settings, is_daemon_base

log = logging.getLogger("kotasks")
#: ``--update`` without a reference: every base
EVERY_BASE = "*"


def lockable_bases(settings: Settings) -> list[str]:
    """The module's base references a lock pins (not scratch, not the Docker daemon's)."""
    return [ref for ref in settings.base_references()
            if ref != SCRATCH and not is_daemon_base(parse_reference(ref, "base image"))]


def update_lock(settings: Settings, update: str = "", fetch: bool = False) -> str:
    """Write the lock: bases already locked keep their digests, unless ``update`` names
    them (or is :data:`EVERY_BASE`); new ones are resolved now; ones no longer used are
    dropped. ``fetch`` stores every locked base's manifests, configs and layers, for
    offline builds. Return the lock file's path."""
    wanted = lockable_bases(settings)
    if update not in ("", EVERY_BASE) and update not in wanted:
        raise UserError(f"--update {update}: not a base image of this module (its bases: "
                        f"{', '.join(wanted) or 'none'})")
    store = Layout(settings.store_path).ensure()
    current = settings.lock.bases if settings.lock is not None else {}
    bases: dict[str, LockedBase] = {}
    for reference in wanted:
        old = current.get(reference)
        if old is not None and update not in (EVERY_BASE, reference):
            bases[reference] = old
            continue
        bases[reference] = lock_entry(store, resolve_base(store, reference, settings.insecure))
        if old is None:
            log.info("Locked %s at %s", reference, bases[reference].digest)
        elif old.digest != bases[reference].digest:
            log.info("Moved %s from %s to %s", reference, old.digest, bases[reference].digest)
    path = write_lock(settings.workdir, bases)
    if fetch:
        for reference, locked in sorted(bases.items()):
            record = resolve_locked(store, reference, locked, settings.insecure)
            fetch_base_content(store, record, layers=True)
            log.info("Stored %s@%s for offline builds", reference, locked.digest)
    return path
