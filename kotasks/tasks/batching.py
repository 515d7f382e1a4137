"""Batched ``go build`` in a doit run: the binaries a run must rebuild share Go processes.

Every binary keeps its own ``gobuild:`` task, file and up-to-date state. What changes is
who runs Go: when the run starts (doit's only hook there is its reporter's ``initialize``),
:func:`open_batches` asks doit's own dependency manager which ``gobuild:`` tasks of the
selected tasks will run, and groups them (:mod:`kotasks.gobuild.batch`). The first of a
group whose action runs builds the whole group in one ``go build``; the others take their
binary from it when it ends. A task missing from the plan (doit's ``--always-execute`` on
an up-to-date one, a changed file) simply builds alone. With a build cache
(:mod:`kotasks.buildcache`), a batch first takes what the cache has, and builds the rest.

Go is passed ``-p``: the machine's cores shared among the Go processes that can run at once
(at most ``-j`` of them), so that parallel jobs never multiply Go's own parallelism
(ko-build/ko#642).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kotasks.gobuild.batch import build_batch, split_batches
from kotasks.gobuild.build import BuildRequest
from kotasks.gobuild.toolchain import Toolchain

if TYPE_CHECKING:
    from kotasks.buildcache.remote import CacheSession, Probe
    from kotasks.buildcache.spec import CacheSpec

#: the ``meta`` key of a ``gobuild:`` task, holding its :class:`GoBuildStep`
META_KEY = "gobuild"
#: batch directories left behind by a killed run are removed after this many seconds
_STALE_SECONDS = 3600


@dataclass(frozen=True)
class GoBuildStep:
    """What a ``gobuild:`` task builds, and where batches it joins may write."""

    tool: Toolchain
    request: BuildRequest
    target: str
    #: a directory on the target's file system for batch outputs
    scratch: str
    #: the files the build reads, and its dependency modules (None: not known here)
    inputs: tuple[str, ...] = ()
    modules: tuple[str, ...] | None = None
    #: the build cache, if one is set
    cache: CacheSpec | None = None


def cache_probe(step: GoBuildStep) -> tuple[CacheSession, Probe] | None:
    """The build cache session and the binary's key, when a build cache is set."""
    if step.cache is None:
        return None
    from kotasks.buildcache.key import uncacheable
    from kotasks.buildcache.remote import session

    cache = session(step.cache)
    return cache, cache.probe(step.request, step.inputs, step.modules, step.target,
                              uncacheable(step.request))


#: what :meth:`Batch.binary` says of a member: taken from the build cache (already at its
#: target), built (at the path given), or not built in the batch
CACHED, BUILT, MISSING = "cached", "built", "missing"


class Batch:
    """One ``go build`` of several steps, run by the first member that asks for it."""

    def __init__(self, steps: list[tuple[str, GoBuildStep]], parallelism: int) -> None:
        self.names = [name for name, _ in steps]
        self._steps = [step for _, step in steps]
        self._parallelism = parallelism
        self._lock = threading.Lock()
        self._started = False
        self._done = threading.Event()
        self._built: dict[str, str] = {}
        self._cached: set[str] = set()
        self._probes: dict[str, tuple[CacheSession, Probe]] = {}
        self._outdir = ""
        self._waiting = {os.path.abspath(step.target) for step in self._steps}

    def binary(self, target: str) -> tuple[str, str]:
        """What the batch did for ``target`` (building the batch if no member has yet):
        (:data:`CACHED`, ""), (:data:`BUILT`, the binary's path) or (:data:`MISSING`, "")."""
        with self._lock:
            first = not self._started
            self._started = True
        if first:
            try:
                self._build()
            finally:
                self._done.set()
        else:
            self._done.wait()
        path = os.path.abspath(target)
        if path in self._cached:
            return CACHED, ""
        step = next(s for s in self._steps if os.path.abspath(s.target) == path)
        built = self._built.get(step.request.import_path)
        return (BUILT, built) if built else (MISSING, "")

    def probe(self, target: str) -> tuple[CacheSession, Probe] | None:
        """The member's build cache key (after :meth:`binary`), if a cache is set."""
        return self._probes.get(os.path.abspath(target))

    def _build(self) -> None:
        """Take what the build cache has (one lookup per member, in parallel), then build
        the rest in one ``go build``."""
        probes = {os.path.abspath(s.target): p for s in self._steps
                  if (p := cache_probe(s)) is not None}
        self._probes = probes
        if probes:
            with ThreadPoolExecutor(len(probes), thread_name_prefix="cache-lookup") as pool:
                hits = dict(zip(probes, pool.map(lambda p: p[0].take(p[1]), probes.values()),
                                strict=True))
            self._cached = {path for path, hit in hits.items() if hit}
        rest = [s for s in self._steps if os.path.abspath(s.target) not in self._cached]
        if not rest:
            return
        first = rest[0]
        os.makedirs(first.scratch, exist_ok=True)
        self._outdir = tempfile.mkdtemp(prefix=".batch-", dir=first.scratch)
        self._built = build_batch(first.tool, [s.request for s in rest], self._outdir,
                                  [s.target for s in rest], self._parallelism)

    def release(self, target: str) -> None:
        """``target``'s member is done with the batch; the last one removes its files."""
        with self._lock:
            self._waiting.discard(os.path.abspath(target))
            last = not self._waiting
        if last:
            self.close()

    def close(self) -> None:
        """Remove the batch's directory (what no member took)."""
        if self._outdir:
            shutil.rmtree(self._outdir, ignore_errors=True)


@dataclass(eq=False)
class Batches:
    """The batches of one run, by each member's target path, and Go's ``-p`` for it."""

    by_target: dict[str, Batch]
    parallelism: int

    def close(self) -> None:
        """Remove every batch's directory."""
        for batch in {id(b): b for b in self.by_target.values()}.values():
            batch.close()


_CURRENT: list[Batches] = []
_CURRENT_LOCK = threading.Lock()


def reachable(tasks: Mapping[str, Any], selected: Iterable[str]) -> list[str]:
    """The names of the selected tasks and everything they depend on, in doit's order."""
    seen: dict[str, None] = {}
    stack = list(selected)[::-1]
    while stack:
        name = stack.pop()
        if name in seen or name not in tasks:
            continue
        seen[name] = None
        task = tasks[name]
        stack.extend([*task.task_dep, *task.setup_tasks][::-1])
    return list(seen)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _sweep(scratch: str) -> None:
    """Remove batch directories a killed run left (older than an hour)."""
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(scratch):
            if entry.name.startswith(".batch-") and \
                    time.time() - entry.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(entry.path, ignore_errors=True)


def open_batches(tasks: Mapping[str, Any], selected: Iterable[str], dep_manager: Any,
                 jobs: int, always: bool = False) -> Batches:
    """Plan the run's batches: the ``gobuild:`` tasks of ``selected`` that doit will run
    (all of them when ``always``), grouped; they stay current until :func:`close_batches`."""
    stale: list[tuple[str, GoBuildStep]] = []
    for name in reachable(tasks, selected):
        task = tasks[name]
        step = (task.meta or {}).get(META_KEY)
        if step is None or dep_manager.status_is_ignore(task):
            continue
        if always or dep_manager.get_status(task, tasks).status == "run":
            stale.append((name, step))
    for scratch in {step.scratch for _, step in stale}:
        _sweep(scratch)
    groups: list[list[tuple[str, GoBuildStep]]] = []
    for tool in {step.tool for _, step in stale}:
        mine = [entry for entry in stale if entry[1].tool == tool]
        groups += [[mine[i] for i in members]
                   for members in split_batches([step.request for _, step in mine])]
    concurrent = max(1, min(jobs, len(groups)))
    batches = Batches({}, max(1, _cores() // concurrent))
    for group in groups:
        if len(group) < 2:
            continue
        batch = Batch(group, batches.parallelism)
        for _, step in group:
            batches.by_target[os.path.abspath(step.target)] = batch
    with _CURRENT_LOCK:
        _CURRENT.append(batches)
    return batches


def close_batches(batches: Batches) -> None:
    """End the run's batches: remove their files; later builds run alone."""
    with _CURRENT_LOCK:
        if batches in _CURRENT:
            _CURRENT.remove(batches)
    batches.close()


def current(target: str) -> tuple[Batch | None, int]:
    """The batch ``target`` belongs to in the current run (None: it builds alone), and the
    ``-p`` to pass Go (0: Go's default, when no run planned batches)."""
    path = os.path.abspath(target)
    with _CURRENT_LOCK:
        for batches in reversed(_CURRENT):
            if path in batches.by_target:
                return batches.by_target[path], batches.parallelism
        return None, _CURRENT[-1].parallelism if _CURRENT else 0
