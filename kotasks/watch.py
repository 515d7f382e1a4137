"""``--watch``: run the same tasks again whenever an input changes, one round at a time.

A round is a whole ordinary run (settings, plan, doit), so only what the change affects is
redone: the binaries, images, pushes or loads, resolved files and applies that depend on it.
Changes are taken from ``watchfiles`` (the OS's file events, debounced: a burst of saves
makes one round); changes that arrive during a round start the next one. Each round prints
one line on stderr. A failed round keeps watching; SIGINT or SIGTERM ends the watch at once
between rounds, or interrupts the round, whose finished steps are saved.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kotasks.tasks.state import EXIT_INTERRUPTED

log = logging.getLogger("kotasks")

#: milliseconds without a new event before a burst of changes is taken as one round
STEP_MS = 50
#: the longest a burst is gathered before the round starts anyway
DEBOUNCE_MS = 1600
_IGNORED_DIRS = {".kotasks", ".git", "__pycache__", ".venv", "node_modules"}
_GO_FILES = {"go.mod", "go.sum", "go.work", "go.work.sum", ".ko.yaml", ".ko.yml"}
_YAML = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class RoundResult:
    """How a round went: doit's exit code and the tasks that ran."""

    code: int
    executed: tuple[str, ...]


def is_input(path: str, yaml_roots: Sequence[str]) -> bool:
    """Whether a changed path can matter to a round: Go sources, kodata files, ``.ko.yaml``,
    ``go.mod``/``go.sum``/``go.work``, and YAML under the ``-f`` inputs."""
    parts = path.split(os.sep)
    if _IGNORED_DIRS & set(parts):
        return False
    name = parts[-1]
    if name.endswith(".go") or name in _GO_FILES or "kodata" in parts[:-1]:
        return True
    return name.endswith(_YAML) and any(path == root or path.startswith(root.rstrip(os.sep)
                                                                        + os.sep)
                                        for root in yaml_roots)


def describe_round(number: int, changed: Iterable[str], result: RoundResult,
                   seconds: float) -> str:
    """The one line a round prints: what changed, what was built and applied, how long."""
    changes = sorted(changed)
    what = ("start" if not changes else
            ", ".join(changes[:3]) + (f" and {len(changes) - 3} more" if len(changes) > 3
                                      else "") + " changed")
    built = [t.split(":", 1)[1] for t in result.executed if t.startswith("build:")]
    applied = [t.split(":", 1)[1] for t in result.executed
               if t.startswith(("apply:", "create:"))]
    parts = [f"round {number}: {what}"]
    if result.code == EXIT_INTERRUPTED:
        parts.append("interrupted")
    elif result.code:
        parts.append("failed (the error is above); still watching")
    parts.append("built " + ", ".join(built) if built else "nothing to build")
    if applied:
        parts.append("applied " + ", ".join(applied))
    parts.append(f"{seconds:.2f} s")
    return "kotasks: " + "; ".join(parts)


def watch(run_round: Callable[[], RoundResult], roots: Sequence[str],
          yaml_roots: Sequence[str]) -> int:
    """Run a round now and after every change under ``roots``, until interrupted.

    Returns 130 (interrupted) when it ends, as an interrupted run does.
    """
    import watchfiles

    yaml_roots = [os.path.abspath(root) for root in yaml_roots]
    changes: queue.Queue[set[tuple[Any, str]]] = queue.Queue()
    stop = threading.Event()

    def pump() -> None:
        # one watcher for the whole session, started before the first round: what changes
        # during a round is queued for the next one
        for batch in watchfiles.watch(*roots, debounce=DEBOUNCE_MS, step=STEP_MS,
                                      watch_filter=lambda _, path: is_input(path, yaml_roots),
                                      stop_event=stop, yield_on_timeout=False):
            changes.put(batch)

    threading.Thread(target=pump, name="watch", daemon=True).start()
    changed: set[str] = set()
    try:
        for number in itertools.count(1):
            started = time.monotonic()
            result = run_round()
            log.warning(describe_round(number, changed, result, time.monotonic() - started))
            if result.code == EXIT_INTERRUPTED:
                break
            changed = _next_changes(changes)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
    return EXIT_INTERRUPTED


def _next_changes(changes: queue.Queue[set[tuple[Any, str]]]) -> set[str]:
    """Wait for the next batch of changes (interruptible), and take any queued after it."""
    while True:
        try:
            batch = changes.get(timeout=0.2)
            break
        except queue.Empty:
            continue
    while not changes.empty():
        batch |= changes.get_nowait()
    return {os.path.relpath(path) for _, path in batch}
