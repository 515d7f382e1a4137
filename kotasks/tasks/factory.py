"""Task factory: a :class:`Plan` becomes doit tasks with declared inputs.

Per package K and platform P::

    gobuild:K@P ──file──▶ layer:K@P ──┐                 ┌─▶ sbom:K@P ──┐
    kodata:K ─────────────────────────┼──▶ image:K@P ───┤              ├─▶ build:K (publish;
    base:REF ─────────────────────────┘                 └─▶ index:K ───┘     prints the ref)
                                                           (2+ platforms, with sbom:K)

``build:K`` is listed by ``doit list``; the other tasks are its subtasks (``doit list --all``).
Each consumer reads its producers' values through ``getargs`` *and* names them in
``task_dep`` (see doit-mechanics §4.6), so a producer that re-runs with the same result stops
the chain there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from doit.task import Task
from doit.tools import timeout

from kotasks.buildcache.spec import CacheSpec
from kotasks.gobuild.delve import supports_delve
from kotasks.gobuild.image import ImageOptions
from kotasks.gobuild.kodata import allowed_root, kodata_inputs
from kotasks.gobuild.toolchain import relevant_environment
from kotasks.oci.descriptor import Platform
from kotasks.oci.layer import ESTARGZ_FORMAT, LAYER_FORMAT
from kotasks.oci.layout import Layout
from kotasks.registry.reference import parse_reference
from kotasks.settings import SCRATCH, Destination, Settings, is_daemon_base
from kotasks.tasks import actions
from kotasks.tasks.archives import archive_tasks
from kotasks.tasks.batching import META_KEY, GoBuildStep
from kotasks.tasks.common import (
    base_task_name,
    blob_present,
    daemon_holds,
    daemon_image_unchanged,
    kind_holds,
    layout_holds,
    make_task,
    recipe,
)
from kotasks.tasks.kubectl import kubectl_tasks
from kotasks.tasks.plan import PackageBuild, Plan
from kotasks.tasks.reporter import PUBLISH
from kotasks.tasks.resolving import image_refs_task, resolve_tasks

if TYPE_CHECKING:
    from kotasks.publish.dockerprobe import DockerProbe

log = logging.getLogger("kotasks")


def kodata_task_name(key: str, windows: bool) -> str:
    """The kodata layer task of a package (Windows images use a layout of their own)."""
    return f"kodata:{key}@windows" if windows else f"kodata:{key}"


def base_task(plan: Plan, reference: str, parent: str) -> Task:
    """Resolve a base image: a digest (or scratch) once, a tag again after KOTASKS_BASE_TTL;
    with a ``kotasks.lock``, its entry (done once per locked digest, never a tag lookup)."""
    settings = plan.settings
    store = settings.store_path
    ref = None if reference == SCRATCH else parse_reference(reference)
    from_daemon = is_daemon_base(ref)
    lockable = ref is not None and not from_daemon and settings.lock is not None
    locked = settings.lock.bases.get(reference) if lockable and settings.lock else None
    fields: dict[str, Any] = {"ref": reference, "insecure": settings.insecure}
    if lockable:
        fields["locked"] = locked.digest if locked else ""
    uptodate: list[Any] = [recipe(**fields)]
    if from_daemon:
        uptodate.append(daemon_image_unchanged(str(ref), plan.target.environ))
    elif ref is None or ref.digest or lockable:
        uptodate.append(lambda task, values: bool(values))
    else:
        uptodate.append(timeout(settings.base_ttl))
    uptodate.append(blob_present(Layout(store)))
    lock = (settings.lock.path, locked) if lockable and settings.lock else None
    return make_task({
        "name": base_task_name(reference),
        "doc": f"resolve base image {reference}",
        "actions": [(actions.fetch_base, [store, settings.state_dir, reference,
                                          settings.insecure, from_daemon, lock])],
        "uptodate": uptodate,
        "io": {"capture": False},
    }, parent)


def _layer_format(settings: Settings) -> dict[str, Any]:
    """A layer recipe's format fields: eStargz is named only when on, so plain layers keep
    the recipe they always had."""
    return {"format": LAYER_FORMAT, **({"estargz": ESTARGZ_FORMAT} if settings.estargz
                                       else {})}


def _kodata_tasks(plan: Plan, build: PackageBuild) -> Iterator[Task]:
    settings = plan.settings
    root = allowed_root(build.kodata_dir, settings.environ)
    mtime = settings.kodata_date_epoch or 0
    for windows in sorted({p.os == "windows" for p in build.platforms}):
        yield make_task({
            "name": kodata_task_name(build.key, windows),
            "doc": f"kodata layer of {build.import_path}",
            "actions": [(actions.make_kodata_layer,
                         [settings.store_path, build.kodata_dir, root, mtime, windows,
                          settings.estargz])],
            "file_dep": kodata_inputs(build.kodata_dir),
            "uptodate": [recipe(**_layer_format(settings), mtime=mtime, root=root,
                                windows=windows),
                         blob_present(Layout(settings.store_path))],
            "io": {"capture": False},
        }, f"build:{build.key}")


def _image_options(settings: Settings, build: PackageBuild) -> ImageOptions:
    return ImageOptions(build.import_path, build.binary_name, labels=settings.image_labels,
                        annotations=settings.image_annotations, user=settings.image_user,
                        source_date_epoch=settings.source_date_epoch,
                        kodata_date_epoch=settings.kodata_date_epoch)


def _sbom_file(settings: Settings, build: PackageBuild, which: str) -> str:
    if not settings.sbom_dir:
        return ""
    suffix = "cdx" if settings.sbom == "cyclonedx" else "spdx"
    return os.path.join(settings.sbom_dir, f"{build.binary_name}-{which}.{suffix}.json")


def _sbom_task(plan: Plan, build: PackageBuild, name: str, action: Any, args: list[Any],
               subject: str, file: str, binary: str = "") -> Task:
    store = plan.settings.store_path
    return make_task({
        "name": name,
        "doc": f"{plan.settings.sbom} SBOM of {subject}",
        "actions": [(action, [store, plan.settings.sbom, file, *args])],
        "file_dep": [binary] if binary else [],
        "getargs": {"subject": (subject, None)},
        "task_dep": [subject],
        "targets": [file] if file else [],
        "uptodate": [recipe(format=plan.settings.sbom, file=file),
                     blob_present(Layout(store))],
        "io": {"capture": False},
    }, f"build:{build.key}")


def _platform_tasks(plan: Plan, build: PackageBuild, images: list[str],
                    sboms: list[str]) -> Iterator[Task]:
    settings = plan.settings
    store = settings.store_path
    parent = f"build:{build.key}"
    base = base_task_name(build.base_ref)
    capability = build.capability.hex() if build.capability else ""
    options = _image_options(settings, build)
    warm = ["requests"] if Destination.REGISTRY in plan.target.sinks else []
    if settings.sboms_wanted:
        warm.append(f"kotasks.sbom.{settings.sbom}")
    scratch = os.path.join(settings.state_dir, "bin")
    cache = CacheSpec(settings.cache_repo, settings.insecure, settings.cache_timeout,
                      plan.go_version, settings.state_dir, store) if settings.cache_repo else None
    modules = build.modules or (None,) * len(build.requests)
    for request, inputs, deps in zip(build.requests, build.inputs, modules, strict=True):
        platform = request.platform
        windows = platform.os == "windows"
        suffix = f"{build.key}@{platform}"
        binary = os.path.join(settings.state_dir, "bin", build.key, platform.slug(),
                              build.binary_name)
        step = GoBuildStep(plan.tool, request, binary, scratch, inputs, deps, cache)
        yield make_task({
            "name": f"gobuild:{suffix}",
            "doc": f"go build {build.import_path} for {platform}",
            "actions": [(actions.go_build, [step, warm])],
            "meta": {META_KEY: step},
            "file_dep": list(inputs),
            "targets": [binary],
            "uptodate": [recipe(
                go=plan.go_version, import_path=build.import_path, platform=str(platform),
                workdir=build.workdir, env=relevant_environment(request.env),
                flags=list(request.flags), ldflags=list(request.ldflags),
                disable_optimizations=request.disable_optimizations)],
            "io": {"capture": False},
        }, parent)
        layer_capability = "" if windows else capability
        yield make_task({
            "name": f"layer:{suffix}",
            "doc": f"binary layer of {build.import_path} for {platform}",
            "actions": [(actions.make_binary_layer,
                         [store, binary, build.binary_name, windows, layer_capability,
                          settings.estargz])],
            "file_dep": [binary],
            "uptodate": [recipe(**_layer_format(settings), name=build.binary_name,
                                windows=windows, capability=layer_capability),
                         blob_present(Layout(store))],
            "io": {"capture": False},
        }, parent)
        kodata = kodata_task_name(build.key, windows)
        image = f"image:{suffix}"
        images.append(image)
        delve = delve_layer_task_name(settings, platform) if debugs(settings, platform) else ""
        yield make_task({
            "name": image,
            "doc": f"image of {build.import_path} for {platform}",
            "actions": [(actions.make_image, [store, platform, options])],
            "getargs": {"kodata": (kodata, None), "layer": (f"layer:{suffix}", None),
                        "base": (base, None), **({"delve": (delve, None)} if delve else {})},
            "task_dep": [kodata, f"layer:{suffix}", base, *([delve] if delve else [])],
            "uptodate": [recipe(
                platform=str(platform), import_path=build.import_path, name=build.binary_name,
                labels=[list(p) for p in options.labels],
                annotations=[list(p) for p in options.annotations], user=options.user,
                source_date_epoch=settings.source_date_epoch,
                kodata_date_epoch=settings.kodata_date_epoch, **({"debug": True} if delve
                                                                 else {})),
                blob_present(Layout(store))],
            "io": {"capture": False},
        }, parent)
        if settings.sboms_wanted:
            sboms.append(f"sbom:{suffix}")
            yield _sbom_task(plan, build, f"sbom:{suffix}", actions.make_image_sbom,
                             [plan.tool.go, binary, f"/ko-app/{build.binary_name}"], image,
                             _sbom_file(settings, build, platform.slug()), binary)


def debugs(settings: Settings, platform: Platform) -> bool:
    """Whether images for ``platform`` are debug images (``--debug``, where Delve runs)."""
    return settings.debug and supports_delve(platform)


def delve_layer_task_name(settings: Settings, platform: Platform) -> str:
    """The task of Delve's layer for a platform (shared by every debug image)."""
    return f"delvelayer:{settings.delve_version}@{platform}"


def delve_tasks(plan: Plan, platform: Platform, parent: str) -> Iterator[Task]:
    """Delve's binary and layer for one platform: built once per version and platform."""
    settings = plan.settings
    version = settings.delve_version
    binary = os.path.join(settings.state_dir, "delve", version, platform.slug(), "dlv")
    yield make_task({
        "name": f"delve:{version}@{platform}",
        "doc": f"build Delve {version} for {platform}",
        "actions": [(actions.build_delve_binary, [plan.tool, version, platform,
                                                  settings.environ, binary])],
        "targets": [binary],
        "uptodate": [recipe(version=version, platform=str(platform), go=plan.go_version)],
        "io": {"capture": False},
    }, parent)
    yield make_task({
        "name": delve_layer_task_name(settings, platform),
        "doc": f"Delve {version} layer for {platform}",
        "actions": [(actions.make_binary_layer, [settings.store_path, binary, "dlv", False, "",
                                                 settings.estargz])],
        "file_dep": [binary],
        "uptodate": [recipe(**_layer_format(settings), name="dlv", windows=False,
                            capability=""),
                     blob_present(Layout(settings.store_path))],
        "io": {"capture": False},
    }, parent)


def _index_task(plan: Plan, build: PackageBuild, images: list[str]) -> Task:
    settings = plan.settings
    base = base_task_name(build.base_ref)
    return make_task({
        "name": f"index:{build.key}",
        "doc": f"index of {build.import_path} for {len(images)} platforms",
        "actions": [(actions.make_index, [settings.store_path, list(build.platforms),
                                          settings.image_annotations])],
        "getargs": {"base": (base, None),
                    **{f"image_{i}": (name, None) for i, name in enumerate(images)}},
        "task_dep": [base, *images],
        "uptodate": [recipe(platforms=[str(p) for p in build.platforms],
                             annotations=[list(p) for p in settings.image_annotations]),
                     blob_present(Layout(settings.store_path))],
        "io": {"capture": False},
    }, f"build:{build.key}")


def _publish_checks(plan: Plan, build: PackageBuild, probe: DockerProbe | None) -> list[Any]:
    """What says the ``build:`` task's publishing is still in place: a layout still naming
    the digest, the daemon or kind nodes still holding the image."""
    target = plan.target
    checks: list[Any] = []
    if Destination.LAYOUT in target.sinks:
        checks.append(layout_holds(target.layout_path, target.layout_names(build.import_path)))
    if probe is not None and Destination.DAEMON in target.sinks:
        checks.append(daemon_holds(probe))
    if probe is not None and Destination.KIND in target.sinks:
        checks.append(kind_holds(probe, target.kind_cluster))
    return checks


def package_tasks(plan: Plan, build: PackageBuild,
                  probe: DockerProbe | None = None) -> Iterator[Task]:
    """Yield every task of one package, ending with its ``build:`` task."""
    settings = plan.settings
    yield from _kodata_tasks(plan, build)
    images: list[str] = []
    sboms: list[str] = []
    yield from _platform_tasks(plan, build, images, sboms)
    artifact = images[0]
    if len(images) > 1:
        artifact = f"index:{build.key}"
        yield _index_task(plan, build, images)
        if settings.sboms_wanted:
            sboms.append(f"sbom:{build.key}")
            yield _sbom_task(plan, build, f"sbom:{build.key}", actions.make_index_sbom, [],
                             artifact, _sbom_file(settings, build, "index"))
    target = plan.target
    base = base_task_name(build.base_ref)
    uptodate: list[Any] = [recipe(import_path=build.import_path, target=target.describe(),
                                   cosign_repository=settings.cosign_repository),
                           *_publish_checks(plan, build, probe)]
    yield make_task({
        "name": f"build:{build.key}",
        "doc": f"build and publish {build.import_path}",
        "actions": [(actions.publish_artifact, [settings.store_path, target, build.import_path,
                                                settings.cosign_repository])],
        "getargs": {"artifact": (artifact, None), "base": (base, None),
                    **{f"sbom_{i}": (name, None) for i, name in enumerate(sboms)}},
        "task_dep": [artifact, base, *sboms],
        "uptodate": uptodate,
        "meta": {"kotasks": PUBLISH, "import_path": build.import_path,
                 "debug": any(debugs(settings, p) for p in build.platforms)},
        "io": {"capture": False},
    })


def plan_tasks(plan: Plan, kubectl_verb: str = "apply") -> Iterator[Task]:
    """Yield all tasks of a plan: each package's, ``build`` (every package), the archives,
    and for YAML inputs ``resolve`` and ``apply`` (or ``create``)."""
    bases: set[str] = set()
    probe = None
    if {Destination.DAEMON, Destination.KIND} & set(plan.target.sinks):
        from kotasks.publish.dockerprobe import DockerProbe

        probe = DockerProbe(plan.target.environ)
    delves: set[Platform] = set()
    for build in plan.builds:
        if build.base_ref not in bases:
            bases.add(build.base_ref)
            yield base_task(plan, build.base_ref, f"build:{build.key}")
        for platform in build.platforms:
            if plan.settings.debug and platform not in delves:
                delves.add(platform)
                if debugs(plan.settings, platform):
                    yield from delve_tasks(plan, platform, f"build:{build.key}")
                else:
                    log.info("kotasks: --debug: Delve runs on linux/amd64 and linux/arm64 "
                             "only; images for %s are built without it", platform)
        yield from package_tasks(plan, build, probe)
    archives = list(archive_tasks(plan))
    yield from archives
    yield make_task({
        "name": "build",
        "doc": "build and publish every main package",
        "actions": None,
        "task_dep": [f"build:{b.key}" for b in plan.builds] + [t.name for t in archives],
    })
    if plan.resolves or plan.settings.filenames:
        yield from resolve_tasks(plan)
        yield from kubectl_tasks(plan, kubectl_verb, plan.settings.kubectl_args)
    if plan.settings.image_refs:
        yield image_refs_task(plan, plan.settings.image_refs)
    yield lock_task(plan.settings)


def lock_task(settings: Settings) -> Task:
    """``doit lock``: write kotasks.lock (``--update all`` or ``--update REF`` resolves tags
    again, ``--fetch`` stores the bases for offline builds); it always runs."""
    return make_task({
        "name": "lock",
        "doc": "write kotasks.lock, the base image digests (--update all|REF, --fetch)",
        "actions": [(actions.write_base_lock, [settings])],
        "params": [{"name": "update", "long": "update", "type": str, "default": "",
                    "help": "resolve this base reference again (all: every one)"},
                   {"name": "fetch", "long": "fetch", "type": bool, "default": False,
                    "help": "store the locked bases for offline builds"}],
        "uptodate": [False],
        "io": {"capture": False},
    })
