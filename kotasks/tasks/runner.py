"""Run kotasks' tasks through doit without a dodo.py (for the ``kotasks`` command)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

from doit.cmd_base import TaskLoader2
from doit.doit_cmd import DoitMain

from kotasks import progress
from kotasks.tasks.factory import plan_tasks
from kotasks.tasks.plan import Plan
from kotasks.tasks.state import EXIT_INTERRUPTED, INTERRUPTED, doit_config

log = logging.getLogger("kotasks")
EXIT_FAILED = 1
EXIT_ERROR = 2


class PlanLoader(TaskLoader2):
    """A doit loader that hands over tasks already made from a plan."""

    def __init__(self, tasks: list[Any], config: dict[str, Any]) -> None:
        super().__init__()
        self._tasks, self._config = tasks, config

    def setup(self, opt_values: dict[str, Any]) -> None:
        """Nothing to set up: the tasks exist already."""

    def load_doit_config(self) -> dict[str, Any]:
        return self._config

    def load_tasks(self, cmd: Any, pos_args: list[str]) -> list[Any]:
        return self._tasks


def run_tasks(plan: Plan, selected: Sequence[str], state_dir: str, jobs: int,
              force: bool = False, kubectl_verb: str = "apply", extra: Sequence[Any] = (),
              executed: list[str] | None = None, report: str = "") -> int:
    """Run the ``selected`` tasks of ``plan`` (and ``extra`` tasks made for this command);
    return doit's exit code (130 if interrupted). The names of the tasks that ran are
    appended to ``executed``; ``report`` names the ``--report`` file. The run speaks as ko
    (doit's task lines only with ``-v``)."""
    for attempt in range(2):
        config = doit_config(state_dir, jobs, executed, report, ko_style=True)
        config["reporter"].last_attempt = attempt == 1
        config["reporter"].always_execute = force
        loader = PlanLoader([*plan_tasks(plan, kubectl_verb), *extra], config)
        main = DoitMain(loader, config_filenames=())
        main.BIN_NAME = "kotasks"
        argv = ["run", *(["--always-execute"] if force else []), *selected]
        try:
            code = int(main.run(argv))
        except KeyboardInterrupt:
            progress.stop()
            print(INTERRUPTED, file=sys.stderr)
            return EXIT_INTERRUPTED
        if not config["reporter"].corrupt_blobs or attempt:
            break
        # a corrupt blob was found before it was sent and removed: the steps that make it
        # run again now, and what depended on it
        log.warning("kotasks: rebuilding what the corrupt blobs came from, and publishing again")
    # doit counts a step skipped because its dependency failed as an error (2); that is a
    # failure (1) unless something really raised
    if code == EXIT_ERROR and not config["reporter"].internal_errors:
        return EXIT_FAILED
    return code
