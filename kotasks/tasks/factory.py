"""Task factory: a :class:`Plan` becomes doit tasks with declared inputs.

Per package K and platform P::

    gobuild:K@P ──file──▶ layer:K@P ──┐
    kodata:K ─────────────────────────┼──▶ image:K@P ──▶ build:K   (publish; prints the ref)
    base:REF ─────────────────────────┘

``build:K`` is listed by ``doit list``; the other tasks are its subtasks (``doit list --all``).
Each consumer reads its producers' values through ``getargs`` *and* names them in
``task_dep`` (see doit-mechanics §4.6), so a producer that re-runs with the same result stops
the chain there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from doit.task import Task, dict_to_task
from doit.tools import config_changed, timeout

from kotasks import __version__
from kotasks.gobuild.image import ImageOptions
from kotasks.gobuild.kodata import allowed_root, kodata_inputs
from kotasks.gobuild.toolchain import relevant_environment
from kotasks.oci.layer import LAYER_FORMAT
from kotasks.oci.layout import Layout
from kotasks.registry.reference import parse_reference
from kotasks.settings import SCRATCH, Destination
from kotasks.tasks import actions
from kotasks.tasks.plan import PackageBuild, Plan
from kotasks.tasks.reporter import PUBLISH

#: bump when a task's recipe changes in a way its config_changed would not show
RECIPE = 1


def _blob_present(store: Layout) -> Any:
    """An uptodate check: the blob this task recorded is still in the store."""

    def check(task: Any, values: dict[str, Any]) -> bool | None:
        digest = values.get("digest")
        return None if not digest else store.has(str(digest))

    return check


def _layout_holds(path: str, names: list[str]) -> Any:
    """An uptodate check: the layout still names the published digest under every tag."""

    def check(task: Any, values: dict[str, Any]) -> bool | None:
        digest = values.get("digest")
        if not digest:
            return None
        layout = Layout(path)
        return all((d := layout.find_ref(n)) is not None and d.digest == digest for n in names)

    return check


def _task(data: dict[str, Any], parent: str | None = None) -> Task:
    task = dict_to_task(data)
    task.subtask_of = parent
    return task


def base_task_name(reference: str) -> str:
    """The name of the task resolving a base reference."""
    return f"base:{reference}"


def kodata_task_name(key: str, windows: bool) -> str:
    """The kodata layer task of a package (Windows images use a layout of their own)."""
    return f"kodata:{key}@windows" if windows else f"kodata:{key}"


def base_task(plan: Plan, reference: str, parent: str) -> Task:
    """Resolve a base image: a digest (or scratch) once, a tag again after KOTASKS_BASE_TTL."""
    store = plan.settings.store_path
    pinned = reference == SCRATCH or bool(parse_reference(reference).digest)
    uptodate: list[Any] = [config_changed({"v": __version__, "r": RECIPE, "ref": reference,
                                           "insecure": plan.settings.insecure})]
    if pinned:
        uptodate.append(lambda task, values: bool(values))
    else:
        uptodate.append(timeout(plan.settings.base_ttl))
    uptodate.append(_blob_present(Layout(store)))
    return _task({
        "name": base_task_name(reference),
        "doc": f"resolve base image {reference}",
        "actions": [(actions.fetch_base, [store, plan.settings.state_dir, reference,
                                          plan.settings.insecure])],
        "uptodate": uptodate,
        "io": {"capture": False},
    }, parent)


def package_tasks(plan: Plan, build: PackageBuild) -> Iterator[Task]:
    """Yield every task of one package, ending with its ``build:`` task."""
    settings = plan.settings
    store = settings.store_path
    state_bin = os.path.join(settings.state_dir, "bin")
    parent = f"build:{build.key}"
    base = base_task_name(build.base_ref)
    kodata_root = allowed_root(build.kodata_dir, settings.environ)
    kodata_mtime = settings.kodata_date_epoch or 0
    for windows in sorted({p.os == "windows" for p in build.platforms}):
        yield _task({
            "name": kodata_task_name(build.key, windows),
            "doc": f"kodata layer of {build.import_path}",
            "actions": [(actions.make_kodata_layer,
                         [store, build.kodata_dir, kodata_root, kodata_mtime, windows])],
            "file_dep": kodata_inputs(build.kodata_dir),
            "uptodate": [config_changed({"v": __version__, "r": RECIPE, "format": LAYER_FORMAT,
                                         "mtime": kodata_mtime, "root": kodata_root,
                                         "windows": windows}),
                         _blob_present(Layout(store))],
            "io": {"capture": False},
        }, parent)

    images: list[str] = []
    capability = build.capability.hex() if build.capability else ""
    for request, inputs in zip(build.requests, build.inputs, strict=True):
        platform = request.platform
        windows = platform.os == "windows"
        suffix = f"{build.key}@{platform}"
        binary = os.path.join(state_bin, build.key, platform.slug(), build.binary_name)
        yield _task({
            "name": f"gobuild:{suffix}",
            "doc": f"go build {build.import_path} for {platform}",
            "actions": [(actions.go_build, [plan.tool, request, binary,
                                            Destination.REGISTRY in plan.target.sinks])],
            "file_dep": list(inputs),
            "targets": [binary],
            "uptodate": [config_changed({
                "v": __version__, "r": RECIPE, "go": plan.go_version,
                "import_path": build.import_path, "platform": str(platform),
                "workdir": build.workdir, "env": relevant_environment(request.env),
                "flags": list(request.flags), "ldflags": list(request.ldflags),
                "disable_optimizations": request.disable_optimizations})],
            "io": {"capture": False},
        }, parent)
        yield _task({
            "name": f"layer:{suffix}",
            "doc": f"binary layer of {build.import_path} for {platform}",
            "actions": [(actions.make_binary_layer,
                         [store, binary, build.binary_name, windows,
                          "" if windows else capability])],
            "file_dep": [binary],
            "uptodate": [config_changed({"v": __version__, "r": RECIPE, "format": LAYER_FORMAT,
                                         "name": build.binary_name, "windows": windows,
                                         "capability": "" if windows else capability}),
                         _blob_present(Layout(store))],
            "io": {"capture": False},
        }, parent)
        options = ImageOptions(build.import_path, build.binary_name,
                               labels=settings.image_labels,
                               annotations=settings.image_annotations,
                               user=settings.image_user,
                               source_date_epoch=settings.source_date_epoch,
                               kodata_date_epoch=settings.kodata_date_epoch)
        kodata_task = kodata_task_name(build.key, windows)
        image = f"image:{suffix}"
        images.append(image)
        yield _task({
            "name": image,
            "doc": f"image of {build.import_path} for {platform}",
            "actions": [(actions.make_image, [store, platform, options])],
            "getargs": {"kodata": (kodata_task, None), "layer": (f"layer:{suffix}", None),
                        "base": (base, None)},
            "task_dep": [kodata_task, f"layer:{suffix}", base],
            "uptodate": [config_changed({
                "v": __version__, "r": RECIPE, "platform": str(platform),
                "import_path": build.import_path, "name": build.binary_name,
                "labels": [list(p) for p in options.labels],
                "annotations": [list(p) for p in options.annotations], "user": options.user,
                "source_date_epoch": settings.source_date_epoch,
                "kodata_date_epoch": settings.kodata_date_epoch}),
                _blob_present(Layout(store))],
            "io": {"capture": False},
        }, parent)

    artifact = images[0]
    if len(images) > 1:
        artifact = f"index:{build.key}"
        yield _task({
            "name": artifact,
            "doc": f"index of {build.import_path} for {len(images)} platforms",
            "actions": [(actions.make_index, [store, list(build.platforms),
                                              settings.image_annotations])],
            "getargs": {"base": (base, None),
                        **{f"image_{i}": (name, None) for i, name in enumerate(images)}},
            "task_dep": [base, *images],
            "uptodate": [config_changed({
                "v": __version__, "r": RECIPE,
                "platforms": [str(p) for p in build.platforms],
                "annotations": [list(p) for p in settings.image_annotations]}),
                _blob_present(Layout(store))],
            "io": {"capture": False},
        }, parent)
    target = plan.target
    uptodate: list[Any] = [config_changed({"v": __version__, "r": RECIPE,
                                           "import_path": build.import_path,
                                           "target": target.describe()})]
    if Destination.LAYOUT in target.sinks:
        uptodate.append(_layout_holds(target.layout_path, target.layout_names(build.import_path)))
    yield _task({
        "name": parent,
        "doc": f"build and publish {build.import_path}",
        "actions": [(actions.publish_artifact, [store, target, build.import_path])],
        "getargs": {"artifact": (artifact, None), "base": (base, None)},
        "task_dep": [artifact, base],
        "uptodate": uptodate,
        "meta": {"kotasks": PUBLISH},
        "io": {"capture": False},
    })


def plan_tasks(plan: Plan) -> Iterator[Task]:
    """Yield all tasks of a plan, plus ``build`` (every package) when there is more than one."""
    bases: set[str] = set()
    for build in plan.builds:
        if build.base_ref not in bases:
            bases.add(build.base_ref)
            yield base_task(plan, build.base_ref, f"build:{build.key}")
        yield from package_tasks(plan, build)
    yield _task({
        "name": "build",
        "doc": "build and publish every main package",
        "actions": None,
        "task_dep": [f"build:{b.key}" for b in plan.builds],
    })
