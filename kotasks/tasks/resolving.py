"""Tasks that turn YAML with ``ko://`` references into YAML with image references.

``resolve:<file>`` per input file reads the published references of exactly the ``build:``
tasks its file names (``getargs`` and ``task_dep``), so it re-runs only when its YAML changed
or one of those references did. ``resolve`` joins the files in input order; the reporter
prints the result. ``image-refs`` writes every published reference (``--image-refs``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

from doit.task import Task

from kotasks.tasks import actions
from kotasks.tasks.common import make_task, recipe
from kotasks.tasks.plan import Plan, ResolveInput
from kotasks.tasks.reporter import RESOLVE

RESOLVED = "resolved"


def task_safe(source: str) -> str:
    """A task-name-safe form of a path (doit forbids ``=`` in names)."""
    return source.replace("=", "%3D")


def resolved_output(plan: Plan, item: ResolveInput) -> str:
    """Where ``resolve:FILE`` writes its file: named after the input, not its position, so
    adding a file never hands one file's output to another file's task."""
    digest = hashlib.sha256(item.path.encode()).hexdigest()[:16]
    return os.path.join(plan.settings.state_dir, RESOLVED, f"{digest}.yaml")


def resolve_tasks(plan: Plan) -> Iterator[Task]:
    """One task per YAML input, and ``resolve`` joining them."""
    settings = plan.settings
    outputs = []
    for item in plan.resolves:
        output = resolved_output(plan, item)
        outputs.append(output)
        args = {f"ref_{n}": (f"build:{key}", "ref") for n, (_, key) in
                enumerate(item.references)}
        names = {f"ref_{n}": ref for n, (ref, _) in enumerate(item.references)}
        yield make_task({
            "name": f"resolve:{task_safe(item.source)}",
            "doc": f"resolve the ko:// references of {item.source}",
            "actions": [(actions.resolve_file, [item.path, item.source, settings.selector,
                                                output, names])],
            "file_dep": [item.path],
            "getargs": args,
            "task_dep": sorted({f"build:{key}" for _, key in item.references}),
            "targets": [output],
            "uptodate": [recipe(selector=settings.selector, source=item.source)],
            "io": {"capture": False},
        }, "resolve")
    combined = os.path.join(settings.state_dir, f"{RESOLVED}.yaml")
    yield make_task({
        "name": "resolve",
        "doc": "resolve ko:// references in " + (", ".join(settings.filenames) or "no files"),
        "actions": [(actions.join_resolved, [outputs, combined])],
        "file_dep": outputs,
        "targets": [combined],
        "uptodate": [recipe(files=outputs)],
        "meta": {"kotasks": RESOLVE},
        "io": {"capture": False},
    })


def image_refs_task(plan: Plan, path: str) -> Task:
    """Write the published references of every build into ``path``, as ko's --image-refs."""
    builds = [f"build:{b.key}" for b in plan.builds]
    return make_task({
        "name": "image-refs",
        "doc": f"write the published image references to {path}",
        "actions": [(actions.write_image_refs, [path, len(builds)])],
        "getargs": {f"build_{i}": (name, None) for i, name in enumerate(builds)},
        "task_dep": builds,
        "targets": [path],
        "uptodate": [recipe(path=path)],
        "io": {"capture": False},
    })
