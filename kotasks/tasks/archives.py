"""The ``tarball`` and ``oci-archive`` tasks: one file holding every image of the run.

Each reads the published digest of every ``build:`` task (``getargs`` and ``task_dep``), so
the file is written again only when an image in it changed, its names changed, or the file
is gone; it is written atomically, after every image is done.
"""

from __future__ import annotations

from collections.abc import Iterator

from doit.task import Task

from kotasks.settings import Destination
from kotasks.tasks import actions
from kotasks.tasks.common import make_task, recipe
from kotasks.tasks.plan import Plan

#: the archive tasks: sink → (task name, what the file is)
ARCHIVES = {Destination.TARBALL: ("tarball", "docker tarball"),
            Destination.OCI_ARCHIVE: ("oci-archive", "OCI archive")}


def archive_tasks(plan: Plan) -> Iterator[Task]:
    """A task per archive file the settings ask for (``--tarball``, ``--oci-archive``)."""
    target = plan.target
    builds = [f"build:{b.key}" for b in plan.builds]
    names = [target.archive_names(b.import_path) for b in plan.builds]
    for sink, (name, what) in ARCHIVES.items():
        if sink not in target.sinks:
            continue
        path = target.tarball if sink == Destination.TARBALL else target.oci_archive
        yield make_task({
            "name": name,
            "doc": f"write every image into the {what} {path}",
            "actions": [(actions.write_archive, [sink, plan.settings.store_path, path, names])],
            "getargs": {f"build_{i}": (build, "digest") for i, build in enumerate(builds)},
            "task_dep": builds,
            "targets": [path],
            "uptodate": [recipe(path=path, names=names)],
            "io": {"capture": False},
        })
