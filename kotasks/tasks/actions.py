"""Task actions: call the domain, return JSON-ready values, turn KotasksError into a failure.

Each action returns only content-derived values (digests, sizes, references), never times or
log text, so that doit's result checks give early cut-off when a step reproduces its output.

The domain modules are imported inside the actions, not at the top: a no-op run loads this
module to name the actions but runs none of them, and those imports (requests among them)
would cost it a third of its time.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kotasks.errors import KotasksError
from kotasks.tasks.reporter import KotasksFailure

log = logging.getLogger("kotasks")

if TYPE_CHECKING:
    from kotasks.baselock import LockedBase
    from kotasks.gobuild.image import ImageOptions
    from kotasks.gobuild.toolchain import Toolchain
    from kotasks.oci.descriptor import Descriptor, Platform
    from kotasks.publish.target import PublishTarget
    from kotasks.settings import Settings
    from kotasks.tasks.batching import GoBuildStep


def guarded(action: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``action`` with KotasksError turned into a :class:`KotasksFailure` value."""

    @functools.wraps(action)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return action(*args, **kwargs)
        except KotasksError as error:
            return KotasksFailure(error)

    return run


_WARMED: set[str] = set()
_WARMED_LOCK = threading.Lock()


def warm_up(modules: list[str]) -> None:
    """Import what later steps need on a side thread while Go compiles (or, for a rebase,
    while the lock is resolved again).

    ``requests`` takes ~0.1 s to import and the SBOM libraries ~0.25 s; the go build
    leaves the interpreter idle that long. Only imports: no request is sent, since the build
    may yet turn out unchanged.
    """

    with _WARMED_LOCK:
        wanted = [m for m in modules if m not in _WARMED]
        _WARMED.update(wanted)
    if not wanted:
        return

    def load() -> None:
        for module in wanted:
            importlib.import_module(module)

    threading.Thread(target=load, name="warm-up", daemon=True).start()


def _values(desc: Descriptor) -> dict[str, Any]:
    """A manifest or index descriptor as task values."""
    return {"digest": desc.digest, "size": desc.size, "media_type": desc.media_type}


def _descriptor(values: dict[str, Any]) -> Descriptor:
    """The descriptor an image, index or SBOM task recorded."""
    from kotasks.oci.descriptor import Descriptor

    return Descriptor(values["media_type"], values["digest"], values["size"])


@guarded
def go_build(step: GoBuildStep, warm: list[str], task: Any) -> None:
    """Build the binary (kept untouched when the new one is byte-identical): from the build
    cache if it has it, else in the run's batch for it if it has one (its members go to
    ``task.meta["batch"]``, for ``--report``), else alone; alone again if the batch could not
    build it, for Go's own message. A binary built here is offered to the build cache."""
    from kotasks.gobuild.build import build_binary, install_binary
    from kotasks.tasks.batching import BUILT, CACHED, cache_probe, current

    if warm:
        warm_up(warm)
    batch, parallelism = current(step.target)
    if batch is None:
        probe = cache_probe(step)
        if probe is not None and probe[0].take(probe[1]):
            return
        build_binary(step.tool, step.request, step.target, parallelism)
        if probe is not None:
            probe[0].built(probe[1])
        return
    try:
        task.meta["batch"] = batch.names
        outcome, built = batch.binary(step.target)
        if outcome == CACHED:
            return
        if outcome == BUILT:
            os.makedirs(os.path.dirname(step.target) or ".", exist_ok=True)
            install_binary(built, step.target)
        else:
            build_binary(step.tool, step.request, step.target, parallelism, announce=False)
        if (probe := batch.probe(step.target)) is not None:
            probe[0].built(probe[1])
    finally:
        batch.release(step.target)


@guarded
def make_kodata_layer(store: str, kodata_dir: str, root: str, mtime: int,
                      windows: bool, estargz: bool = False) -> dict[str, Any]:
    """Write the kodata layer; return its digest, diff_id and size."""
    from kotasks.gobuild.kodata import kodata_entries
    from kotasks.gobuild.layers import kodata_layer
    from kotasks.oci.layout import Layout

    entries = kodata_entries(kodata_dir, root, windows)
    return kodata_layer(Layout(store), entries, mtime, windows, estargz).to_json()


@guarded
def make_binary_layer(store: str, binary: str, name: str, windows: bool,
                      capability: str, estargz: bool = False) -> dict[str, Any]:
    """Write the binary layer (or take the one the layer memo holds for these very bytes),
    offer it to the build cache; return its digest, diff_id and size."""
    from kotasks.buildcache.remote import layer_made
    from kotasks.gobuild.layermemo import layer_recipe, remember_layer, remembered_layer
    from kotasks.gobuild.layers import binary_layer
    from kotasks.oci.layout import Layout

    layout = Layout(store)
    recipe = layer_recipe(name, windows, capability, estargz)
    memo = remembered_layer(binary, recipe)
    if memo is not None and layout.has(memo[1].digest):
        layer = memo[1]  # made before from these very bytes (or taken from the build cache)
    else:
        xattr = bytes.fromhex(capability) if capability else None
        layer = binary_layer(layout, binary, name, windows, xattr, estargz)
        remember_layer(binary, recipe, layer)
    layer_made(binary, recipe, layer)
    return layer.to_json()


@guarded
def fetch_base(store: str, state_dir: str, reference: str, insecure: bool,
               from_daemon: bool = False,
               lock: tuple[str, LockedBase | None] | None = None) -> dict[str, Any]:
    """Resolve the base reference (one HEAD for a tag; with ``lock`` = (the lock file, its
    entry), the locked digest); return the base record (with the image ID, for a base
    copied from the Docker daemon)."""
    from kotasks.baseimage import resolve_base, resolve_daemon_base, resolve_locked
    from kotasks.errors import UserError
    from kotasks.oci.layout import Layout
    from kotasks.tasks.bases import remember

    if lock is not None:
        path, locked = lock
        if locked is None:
            raise UserError(f"base image {reference} is not in {path}: run `kotasks lock` "
                            "(or `doit lock`) to add it")
        return resolve_locked(Layout(store), reference, locked, insecure).to_json()
    if from_daemon:
        record, image_id = resolve_daemon_base(Layout(store), reference, os.environ)
        remember(state_dir, record)
        return {**record.to_json(), "image_id": image_id}
    record = resolve_base(Layout(store), reference, insecure)
    remember(state_dir, record)
    return record.to_json()


@guarded
def build_delve_binary(tool: Toolchain, version: str, platform: Platform,
                       environ: dict[str, str], target: str) -> None:
    """Build Delve for a platform (for every debug image)."""
    from kotasks.gobuild.delve import build_delve

    build_delve(tool, version, platform, environ, target)


@guarded
def make_image(store: str, platform: Platform, options: ImageOptions, kodata: dict[str, Any],
               layer: dict[str, Any], base: dict[str, Any],
               delve: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble one platform's image (a debug image with ``delve``'s layer); return its
    manifest descriptor fields."""
    from kotasks.baseimage import BaseRecord, base_for_platform
    from kotasks.gobuild.image import assemble_image
    from kotasks.oci.layer import LayerInfo
    from kotasks.oci.layout import Layout

    layout = Layout(store)
    base_image = base_for_platform(layout, BaseRecord.from_json(base), platform)
    desc = assemble_image(layout, base_image, LayerInfo.from_json(kodata),
                          LayerInfo.from_json(layer), options,
                          LayerInfo.from_json(delve) if delve else None)
    return _values(desc)


@guarded
def make_index(store: str, platforms: list[Platform], annotations: list[tuple[str, str]],
               base: dict[str, Any], **images: dict[str, Any]) -> dict[str, Any]:
    """Assemble the index over the platforms' images; return its descriptor fields."""
    from kotasks.baseimage import BaseRecord
    from kotasks.gobuild.index import assemble_index
    from kotasks.oci.layout import Layout

    children = [(platform, _descriptor(image))
                for platform, image in zip(platforms, (images[f"image_{i}"] for i in
                                                      range(len(platforms))), strict=True)]
    desc = assemble_index(Layout(store), BaseRecord.from_json(base), children, annotations)
    return _values(desc)


@guarded
def publish_artifact(store: str, target: PublishTarget, import_path: str,
                     cosign_repository: str, task: Any, artifact: dict[str, Any],
                     base: dict[str, Any], **sboms: dict[str, Any]) -> dict[str, Any]:
    """Publish the image (or index) and, when pushing, its SBOMs; return the printed
    reference, what was published (an index's children too) and where. The registry
    retries it took go to ``task.meta["retries"]`` (for ``--report``, not the values: they
    are not content)."""
    from kotasks.baseimage import BaseRecord, announce_base
    from kotasks.oci.layout import Layout
    from kotasks.publish.publisher import publish
    from kotasks.publish.sbom import SbomRecord, push_sboms
    from kotasks.registry.retry import counting

    layout = Layout(store)
    record = BaseRecord.from_json(base)
    announce_base(record, import_path)
    records = [SbomRecord(v["subject"], v["digest"], v["media_type"])
               for _, v in sorted(sboms.items())]

    def attach(name: str) -> None:  # pushed with the image, before ko's "Published" line
        push_sboms(layout, name, records, target.insecure, cosign_repository)

    with counting() as count:
        try:
            values = publish(target, layout, _descriptor(artifact), import_path, record,
                             attach if records else None)
        finally:
            task.meta["retries"] = count.retries
    return values


def _sbom_record(store: Any, fmt: str, file: str, document: bytes, subject: str
                 ) -> dict[str, Any]:
    from kotasks.fsutil import write_atomic
    from kotasks.sbom.attach import CYCLONEDX_MEDIA_TYPE, SPDX_MEDIA_TYPE

    digest = store.put(document)
    if file:
        log.info("Writing SBOM to %s", file)
        write_atomic(file, document)
    media_type = CYCLONEDX_MEDIA_TYPE if fmt == "cyclonedx" else SPDX_MEDIA_TYPE
    return {"digest": digest, "size": len(document), "media_type": media_type,
            "subject": subject}


@guarded
def make_image_sbom(store: str, fmt: str, file: str, go: str, binary: str, in_image: str,
                    subject: dict[str, Any]) -> dict[str, Any]:
    """Write an image's SBOM (from the binary's module graph); return where it is."""
    from kotasks import __version__
    from kotasks.oci.layout import Layout
    from kotasks.sbom.buildinfo import read_build_info
    from kotasks.sbom.cyclonedx import cyclonedx_image
    from kotasks.sbom.spdx import spdx_image
    from kotasks.sbom.subjects import image_facts

    layout = Layout(store)
    facts = image_facts(layout, _descriptor(subject))
    info = read_build_info(go, binary, in_image)
    make = cyclonedx_image if fmt == "cyclonedx" else spdx_image
    return _sbom_record(layout, fmt, file, make(facts, info, f"kotasks {__version__}"),
                        subject["digest"])


@guarded
def make_index_sbom(store: str, fmt: str, file: str, subject: dict[str, Any]
                    ) -> dict[str, Any]:
    """Write an index's SBOM (its children and base); return where it is."""
    from kotasks import __version__
    from kotasks.oci.layout import Layout
    from kotasks.sbom.cyclonedx import cyclonedx_index
    from kotasks.sbom.spdx import spdx_index
    from kotasks.sbom.subjects import index_children

    layout = Layout(store)
    index = _descriptor(subject)
    children, created, base_name, base_digest = index_children(layout, index)
    make = cyclonedx_index if fmt == "cyclonedx" else spdx_index
    document = make(index.digest, index.media_type, created, children, base_name, base_digest,
                    f"kotasks {__version__}")
    return _sbom_record(layout, fmt, file, document, subject["digest"])


@guarded
def resolve_file(path: str, source: str, selector: str, output: str, names: dict[str, str],
                 **published: str) -> dict[str, Any]:
    """Write ``path`` with its ``ko://`` scalars replaced by the published references."""
    from kotasks.fsutil import write_atomic
    from kotasks.resolve.documents import decode, select
    from kotasks.resolve.rewrite import rewrite
    from kotasks.resolve.scan import find_ko_scalars
    from kotasks.resolve.selector import parse_selector

    with open(path, "rb") as f:
        text = decode(f.read(), source)
    if selector:
        text = select(text, source, parse_selector(selector))
    refs = {names[arg]: ref for arg, ref in published.items()}
    result = rewrite(text, find_ko_scalars(text, source), refs, source=source)
    write_atomic(output, result.encode("utf-8"))
    return {"output": output}


@guarded
def join_resolved(outputs: list[str], combined: str) -> dict[str, Any]:
    """Join the resolved files in input order, ``---`` between files (as ko separates them)."""
    from kotasks.fsutil import write_atomic

    parts = []
    for output in outputs:
        with open(output, encoding="utf-8") as f:
            text = f.read()
        if text.strip():  # a file whose documents were all filtered out adds nothing
            parts.append(text if text.endswith("\n") else text + "\n")
    joined = "".join(part if i == 0 or part.startswith("---") else "---\n" + part
                     for i, part in enumerate(parts))
    write_atomic(combined, joined.encode("utf-8"))
    return {"output": combined}


@guarded
def write_image_refs(path: str, count: int, **builds: dict[str, Any]) -> dict[str, Any]:
    """Write every published reference, one per line (an index: its children too)."""
    from kotasks.fsutil import write_atomic

    lines: list[str] = []
    for i in range(count):
        values = builds[f"build_{i}"]
        lines.append(values["ref"])
        lines += [f"{values['repository']}@{child}" for child in values.get("children", [])]
    write_atomic(path, "".join(f"{line}\n" for line in lines).encode())
    return {"lines": len(lines)}


@guarded
def write_archive(sink: str, store: str, path: str, names: list[list[str]],
                  **builds: str) -> dict[str, Any]:
    """Write the ``--tarball`` or ``--oci-archive`` file with every published artifact."""
    from kotasks.oci.descriptor import Descriptor
    from kotasks.oci.layout import Layout
    from kotasks.oci.manifest import media_type_of
    from kotasks.publish.ociarchive import write_oci_archive
    from kotasks.publish.tarball import write_tarball
    from kotasks.settings import Destination

    layout = Layout(store)
    artifacts = []
    for i, refs in enumerate(names):
        data = layout.read(builds[f"build_{i}"])
        artifacts.append((Descriptor(media_type_of(data), builds[f"build_{i}"], len(data)),
                          refs))
    write = write_tarball if sink == Destination.TARBALL else write_oci_archive
    write(layout, path, artifacts)
    return {"file": path, "images": len(artifacts)}


@guarded
def kubectl_file(verb: str, resolved: str, source: str, args: list[str]) -> dict[str, Any]:
    """``kubectl VERB -f - ARGS`` with a resolved file on stdin (nothing for an empty one)."""
    from kotasks.kube import find_kubectl, run_kubectl

    with open(resolved, "rb") as f:
        empty = not f.read().strip()
    if not empty:
        run_kubectl(find_kubectl(os.environ), verb, ["-f", "-", *args], source, resolved)
    return {"file": source, "empty": empty}


@guarded
def kubectl_run_pod(args: list[str], ref: str, repository: str) -> None:
    """``kubectl run <name> --image <ref> --attach --rm --restart=Never`` as ``ko run``."""
    import posixpath

    from kotasks.kube import find_kubectl, run_kubectl

    name = posixpath.basename(repository.rstrip("/"))
    run_kubectl(find_kubectl(os.environ), "run",
                [name, "--image", ref, "--attach", "--rm", "--restart=Never",
                 "--log-flush-frequency=1s", *args], name)


@guarded
def write_base_lock(settings: Settings, update: str, fetch: bool) -> None:
    """``doit lock [--update REF|all] [--fetch]``: write (update, fetch) kotasks.lock."""
    from kotasks.lockcommand import EVERY_BASE, update_lock

    update_lock(settings, EVERY_BASE if update == "all" else update, fetch)
