"""doit's configuration for kotasks, and the care its state file needs.

* State lives in ``.kotasks/state.sqlite3`` (sqlite3: atomic per run, safe for concurrent
  runs, portable across Python builds). doit will not create its directory; we do.
* An unreadable state file is moved aside with a one-line message, so the next run rebuilds
  instead of failing with a traceback.
* SIGTERM becomes KeyboardInterrupt, so doit's ``finally`` saves the tasks that finished.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import sys
import threading
import time
from typing import Any

from kotasks import progress
from kotasks.tasks.checker import MemoHashChecker
from kotasks.tasks.reporter import KotasksReporter

log = logging.getLogger("kotasks")
STATE_FILE = "state.sqlite3"
INTERRUPTED = "kotasks: interrupted; finished steps were recorded"
#: the exit status of an interrupted run (SIGINT or SIGTERM)
EXIT_INTERRUPTED = 130


class _EmittingHandler(logging.Handler):
    """Log lines to stderr, above the progress bars while they are shown."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            progress.emit(self.format(record) + "\n")
        except Exception:  # logging must never raise
            self.handleError(record)


def setup_logging() -> None:
    """Send kotasks' log lines to stderr, once (``KOTASKS_QUIET`` silences progress)."""
    logger = logging.getLogger("kotasks")
    if any(getattr(h, "kotasks", False) for h in logger.handlers):
        return
    handler = _EmittingHandler()
    handler.kotasks = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if os.environ.get("KOTASKS_QUIET") else logging.INFO)
    progress.set_from_environment()
    logger.propagate = False


def _terminate(signum: int, frame: Any) -> None:
    # a second TERM (a process-group kill after a direct one) must not cut the state save short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def install_sigterm_handler() -> None:
    """Make SIGTERM behave like Ctrl-C, and an interrupt end with one line, not a traceback."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        progress.stop()  # the view goes before the last words
        if issubclass(kind, KeyboardInterrupt):
            sys.stderr.write(INTERRUPTED + "\n")
        else:
            previous(kind, value, tb)

    sys.excepthook = hook


def prepare_state(state_dir: str) -> str:
    """Create the state directory; quarantine an unreadable state file; return its path."""
    os.makedirs(state_dir, exist_ok=True)
    path = os.path.join(state_dir, STATE_FILE)
    if os.path.exists(path):
        try:
            with sqlite3.connect(path) as conn:
                conn.execute("select count(*) from sqlite_master").fetchone()
                conn.execute("pragma quick_check").fetchone()
        except sqlite3.DatabaseError as exc:
            aside = f"{path}.corrupt-{int(time.time())}"
            os.replace(path, aside)
            log.warning("kotasks: state file %s was unreadable (%s); moved it to %s and will "
                        "rebuild", path, exc, aside)
    return path


def doit_config(state_dir: str, jobs: int, executed: list[str] | None = None,
                report: str = "", ko_style: bool = False) -> dict[str, Any]:
    """The DOIT_CONFIG kotasks runs with (its reporter appends what ran to ``executed``,
    writes the ``--report`` file, and with ``ko_style`` speaks as ko: see the reporter)."""
    reporter = type("RunReporter", (KotasksReporter,),
                    {"executed": executed, "report_path": report, "internal_errors": [],
                     "corrupt_blobs": [], "jobs": max(1, jobs), "ko_style": ko_style})
    return {
        "backend": "sqlite3",
        "dep_file": prepare_state(state_dir),
        "check_file_uptodate": MemoHashChecker,
        "reporter": reporter,
        "par_type": "thread",
        "num_process": max(1, jobs),
        "default_tasks": ["build"],
        # an image that fails does not stop the independent ones (the summary lists failures)
        "continue": True,
        "verbosity": 1,
    }
