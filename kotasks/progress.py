"""Live progress on a terminal: bytes sent of each blob, and an overall line, through ``rich``.

Off unless :func:`enable` was called (the ``kotasks`` command and ``tasks()`` do when stderr
is a terminal); then the bars appear with the first transfer and vanish when the run ends.
Every other line kotasks writes to stderr goes through :func:`emit`, which prints it above
the bars while they are shown. When stderr is not a terminal nothing changes: one line per
step, as always. stdout is never touched.
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import Any

_lock = threading.Lock()
_enabled = False
_progress: Any = None
_overall: Any = None


def enable(on: bool = True) -> None:
    """Show live progress from now on (only meaningful when stderr is a terminal)."""
    global _enabled
    _enabled = on


class Transfer:
    """One blob on its way: :meth:`advance` by the bytes sent; a context manager."""

    def __init__(self, task: Any = None) -> None:
        self._task = task
        self._shown, self._overall = _progress, _overall  # the display it was started on

    def advance(self, sent: int) -> None:
        """Count ``sent`` more bytes."""
        if self._task is not None:
            self._shown.update(self._task, advance=sent)
            self._shown.update(self._overall, advance=sent)

    def __enter__(self) -> Transfer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._task is not None:
            self._shown.remove_task(self._task)
            self._task = None


def transfer(what: str, total: int) -> Transfer:
    """Start showing a transfer of ``total`` bytes (a no-op unless enabled)."""
    global _progress, _overall
    if not _enabled:
        return Transfer()
    with _lock:
        if _progress is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            _progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 DownloadColumn(), TransferSpeedColumn(),
                                 console=Console(file=sys.stderr), transient=True,
                                 redirect_stdout=False, redirect_stderr=False)
            _overall = _progress.add_task("all blobs", total=0)
            _progress.start()
        _progress.update(_overall, total=_progress.tasks[0].total + total)
        return Transfer(_progress.add_task(what, total=total))


def emit(text: str) -> None:
    """Write ``text`` to stderr (above the bars while they are shown)."""
    with _lock:
        live = _progress
    if live is not None:
        live.console.print(text.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)
    else:
        sys.stderr.write(text)
        sys.stderr.flush()


def stop() -> None:
    """End the live display (the bars disappear); later lines go straight to stderr."""
    global _progress, _overall
    with _lock:
        live, _progress, _overall = _progress, None, None
    if live is not None:
        live.stop()
