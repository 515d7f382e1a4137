"""doit reporter: progress and errors on stderr, only image references (or YAML) on stdout.

Executed tasks are listed as ``. <task>`` lines on stderr (for the ``kotasks`` verbs only with
``-v``, which sets ``KOTASKS_VERBOSE``: ko's log lines are what they print); up-to-date ones
are silent unless ``KOTASKS_VERBOSE`` is set. A kotasks error is one ``kotasks: error: …``
line, followed once by its details (a compiler's output). At the end, each published reference
is printed on stdout, whether its task ran now or was already up to date, in the order the
tasks were asked for. The live view on a terminal (:mod:`kotasks.progress`) learns from here
how many builds, layers, images and publishing steps the run has, and each one that ends.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from typing import Any

from doit.exceptions import BaseFail, TaskError, TaskFailed, UnmetDependency
from doit.globals import Globals
from doit.reporter import ConsoleReporter

from kotasks import progress
from kotasks.errors import CorruptBlobError, KotasksError
from kotasks.tasks.batching import Batches, close_batches, open_batches, reachable
from kotasks.tasks.report import build_report, reasons, write_report

PUBLISH = "publish"
RESOLVE = "resolve"


class KotasksFailure(TaskFailed):
    """A task that failed with a :class:`KotasksError` (a user-facing, one-line problem)."""

    def __init__(self, error: KotasksError) -> None:
        super().__init__(str(error))
        self.error = error


def output_kind(task: Any) -> str:
    """The kind of stdout output a task produces (``publish``, ``resolve`` or '')."""
    return str((getattr(task, "meta", None) or {}).get("kotasks", ""))


#: the live view's kinds of step, by task name prefix
_STEP_PREFIXES = {"gobuild:": "build", "layer:": "layer", "image:": "image"}


def step_kind(task: Any) -> str:
    """The live view's kind of step a task is (:data:`kotasks.progress.STEPS`), or ''."""
    if output_kind(task) == PUBLISH:
        return "publish"
    return next((kind for prefix, kind in _STEP_PREFIXES.items()
                 if task.name.startswith(prefix)), "")


def planned_steps(tasks: dict[str, Any], selected: list[str]) -> Counter[str]:
    """How many steps of each kind the ``selected`` tasks need (run or up to date)."""
    return Counter(kind for name in reachable(tasks, selected)
                   if (kind := step_kind(tasks[name])))


class KotasksReporter(ConsoleReporter):
    """Report to stderr; print references or resolved YAML to stdout at the end."""

    desc = "kotasks: progress on stderr, image references on stdout"
    #: where the names of executed tasks go (a subclass per run sets it; see doit_config)
    executed: list[str] | None = None
    #: where ``--report`` goes ("" for no report; a subclass per run sets it)
    report_path: str = ""
    #: the tasks that failed with an exception (a bug), as opposed to a reported error
    internal_errors: list[str] = []  # noqa: RUF012 - a subclass per run gets its own list
    #: the tasks that found a corrupt blob in the store (removed: another run rebuilds it)
    corrupt_blobs: list[str] = []  # noqa: RUF012 - a subclass per run gets its own list
    #: False while another run will follow this one if a corrupt blob is found
    last_attempt: bool = True
    #: doit's ``num_process`` and ``--always-execute`` (for planning batched go builds)
    jobs: int = 1
    always_execute: bool = False
    #: ko's style (the ``kotasks`` verbs): doit's task lines only with ``-v``, and one line
    #: for a run that did nothing; ``doit …`` keeps doit's task lines
    ko_style: bool = False

    def __init__(self, outstream: Any, options: dict[str, Any]) -> None:
        super().__init__(sys.stderr, options)
        self._stdout = sys.stdout
        self._lock = threading.Lock()
        self._tasks: dict[str, Any] = {}
        self._selected: list[str] = []
        #: failed task → its one-line reason ("" when only a dependency failed)
        self._failed: dict[str, str] = {}
        self._verbose = bool(os.environ.get("KOTASKS_VERBOSE"))
        #: task → "ran", "up to date" or "failed"; and why each task that ran did
        self._status: dict[str, str] = {}
        self._causes: dict[str, list[str]] = {}
        self._batches: Batches | None = None

    def write(self, text: str) -> None:
        with self._lock:
            progress.emit(text)

    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        """Called by doit once the tasks are known, before any runs: the one moment to plan
        the run's batched ``go build`` (see :mod:`kotasks.tasks.batching`)."""
        self._tasks = tasks
        self._selected = list(selected_tasks)
        progress.expect(planned_steps(tasks, self._selected))
        if Globals.dep_manager is not None:
            self._batches = open_batches(tasks, self._selected, Globals.dep_manager,
                                         self.jobs, self.always_execute)

    def execute_task(self, task: Any) -> None:
        if task.actions and not task.name.startswith("_"):
            progress.step_started()
            if self._verbose or not self.ko_style:
                self.write(f".  {task.name}\n")
            with self._lock:
                if self.executed is not None:
                    self.executed.append(task.name)
                if self.report_path:
                    ran = {n for n, s in self._status.items() if s == "ran"}
                    self._causes[task.name] = reasons(task, ran)
                self._status[task.name] = "ran"

    def add_success(self, task: Any) -> None:
        progress.step_done(step_kind(task))

    def skip_uptodate(self, task: Any) -> None:
        progress.step_done(step_kind(task))
        with self._lock:
            self._status[task.name] = "up to date"
        if self._verbose and task.actions:
            self.write(f"-- {task.name}\n")

    def skip_ignore(self, task: Any) -> None:
        self.write(f"!! {task.name}\n")

    def add_failure(self, task: Any, fail: BaseFail) -> None:
        progress.step_done(step_kind(task))
        with self._lock:
            self._status[task.name] = "failed"
        if isinstance(fail, UnmetDependency):  # its cause was reported where it happened
            self._failed[task.name] = ""
            return
        if isinstance(fail, KotasksFailure):
            self._failed[task.name] = str(fail.error)
            if isinstance(fail.error, CorruptBlobError):
                self.corrupt_blobs.append(task.name)
        else:
            self._failed[task.name] = (fail.get_msg().strip().splitlines() or ["failed"])[0]
        if isinstance(fail, KotasksFailure):
            text = f"kotasks: error: {fail.error}\n"
            if fail.error.details:
                text += fail.error.details.rstrip("\n") + "\n"
        elif isinstance(fail, TaskError) and fail.traceback:
            text = f"kotasks: internal error in {task.name}: {fail.get_msg()}"
            self.internal_errors.append(task.name)
        else:
            text = f"kotasks: error: {task.name}: {fail.get_msg().strip()}\n"
        self.write(text)

    def _say_nothing_to_do(self) -> None:
        """ko's style: one line for a run in which every step was up to date."""
        if self._failed or any(status == "ran" for status in self._status.values()):
            return
        images = sum(1 for task in self._ordered() if output_kind(task) == PUBLISH)
        self.write(f"kotasks: nothing to do ({images} image{'s' * (images != 1)} up to "
                   "date)\n")

    def runtime_error(self, msg: str) -> None:
        self.write(f"kotasks: error: {msg}\n")

    def _ordered(self) -> list[Any]:
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen or name not in self._tasks:
                return
            seen.add(name)
            task = self._tasks[name]
            if output_kind(task):
                order.append(name)
            elif not task.actions:
                for dep in task.task_dep:
                    visit(dep)

        for name in self._selected:
            visit(name)
        return [self._tasks[n] for n in order]

    def complete_run(self) -> None:
        progress.stop()
        if self._batches is not None:
            close_batches(self._batches)
        if self.corrupt_blobs and not self.last_attempt:
            return  # the run that rebuilds them reports
        done = [t for t in self._ordered() if t.values and t.name not in self._failed]
        kinds = {output_kind(t) for t in done}
        wanted = RESOLVE if RESOLVE in kinds else PUBLISH
        for task in done:
            if output_kind(task) != wanted:
                continue
            if wanted == PUBLISH:
                self._stdout.write(f"{task.values['ref']}\n")
            else:
                with open(task.values["output"], encoding="utf-8") as resolved:
                    self._stdout.write(resolved.read())
        self._stdout.flush()
        if self.ko_style and self._status:
            self._say_nothing_to_do()
        self._summarise()
        if self.report_path:
            write_report(self.report_path, build_report(self._tasks, self._status,
                                                        self._causes, self._failed, PUBLISH))
        # the build cache's stores, after the references are out (loaded only if it was used)
        cache = sys.modules.get("kotasks.buildcache.remote")
        if cache is not None:
            cache.finish_sessions()

    def _cause(self, name: str, seen: set[str]) -> str:
        """The reason of the first failure ``name`` depends on (itself, or a dependency)."""
        if name in seen or name not in self._tasks:
            return ""
        seen.add(name)
        if self._failed.get(name):
            return f"{name}: {self._failed[name]}"
        for dep in self._tasks[name].task_dep:
            if dep in self._failed and (cause := self._cause(dep, seen)):
                return cause
        return ""

    def _summarise(self) -> None:
        """After failures, the last lines on stderr: what was published, what failed, why."""
        if not self._failed:
            return
        publishing = [n for n, t in self._tasks.items() if output_kind(t) == PUBLISH
                      and (n in self._failed or t.values)]
        failed = [n for n in publishing if n in self._failed]
        causes = {n: self._cause(n, set()) for n in failed}
        if publishing:
            self.write(f"kotasks: {len(publishing) - len(failed)} published, "
                       f"{len(failed)} failed\n")
        others = [n for n, reason in self._failed.items() if reason and
                  not any(c.startswith(f"{n}: ") for c in causes.values())]
        for name in [*failed, *others]:
            self.write(f"kotasks:   {causes.get(name) or f'{name}: {self._failed[name]}'}\n")
