"""What ``globals().update(kotasks.tasks())`` puts into a user's ``dodo.py``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from doit.exceptions import InvalidTask
from doit.task import Task

from kotasks.errors import KotasksError
from kotasks.settings import STATE_DIR, default_jobs, load_settings
from kotasks.tasks.factory import plan_tasks
from kotasks.tasks.plan import make_plan
from kotasks.tasks.state import doit_config, install_sigterm_handler, setup_logging


def load_tasks(path: str, options: Mapping[str, Any]) -> list[Task]:
    """Build the task list for the module at ``path``; a KotasksError becomes InvalidTask."""
    try:
        settings = load_settings(path, options)
        return list(plan_tasks(make_plan(settings, None, bool(settings.filenames))))
    except KotasksError as error:
        message = f"kotasks: {error}"
        if error.details:
            message += "\n" + error.details.rstrip()
        raise InvalidTask(message) from None


def namespace(path: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``task_kotasks`` (the creator) and ``DOIT_CONFIG`` for a dodo.py."""
    setup_logging()
    install_sigterm_handler()
    jobs = int(options.get("jobs") or 0) or default_jobs()

    def task_kotasks() -> Iterator[Task]:
        """ko's build, as tasks: one build:<package> per main package."""
        yield from load_tasks(path, options)

    config = doit_config(STATE_DIR, jobs, report=str(options.get("report") or ""))
    return {"task_kotasks": task_kotasks, "DOIT_CONFIG": config}
