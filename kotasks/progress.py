"""One live view of a run on a terminal, through ``rich``; plain log lines everywhere else.

The view (stderr, only after :func:`set_from_environment`, which the ``kotasks`` command and
``tasks()`` call, found it :func:`wanted`) counts the steps of the run — go builds done of
all, with the package and platform of each build in flight; layers; images; images
published — and the bytes sent to a registry or daemon, with their rate. It appears with the
first step that runs (a run with nothing to do never shows it) and vanishes when the run
ends, so what stays on the screen are the log lines, which :func:`emit` prints above it
meanwhile. Off a terminal nothing changes: the log lines, and no control characters. stdout
is never touched.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TextIO

#: the kinds of step the view counts, in the order it shows them
STEPS = ("build", "layer", "image", "publish")
_LABELS = {"build": "go builds", "layer": "layers", "image": "images", "publish": "published"}
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
#: seconds of samples the rate is measured over
_RATE_WINDOW = 3.0

_lock = threading.Lock()
#: one writer to the terminal at a time: a line printed while rich's Live starts or stops
#: lands where the view's erasing then takes it (never taken while holding ``_lock``)
_output = threading.RLock()
_enabled = False
_live: Any = None
_keys = itertools.count()
#: how many steps are writing to the terminal themselves (kubectl): no view meanwhile
_suspended = 0


def wanted(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Whether to show the live view: ``stream`` is a terminal, ``CI`` is not set (or is
    ``false``/``0``), and neither ``KOTASKS_NO_PROGRESS`` nor ``KOTASKS_QUIET`` is."""
    ci = environ.get("CI", "").strip().lower() not in ("", "0", "false")
    return (stream.isatty() and not ci and not environ.get("KOTASKS_NO_PROGRESS")
            and not environ.get("KOTASKS_QUIET"))


@dataclass
class _State:
    """What the view shows (read under ``_lock``)."""

    started: float = field(default_factory=time.monotonic)
    total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))
    done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))
    building: dict[int, str] = field(default_factory=dict)
    sending: int = 0
    sent: int = 0
    to_send: int = 0
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def rate(self, now: float) -> float:
        """Bytes per second over the last few seconds."""
        self.samples.append((now, self.sent))
        while len(self.samples) > 2 and self.samples[1][0] < now - _RATE_WINDOW:
            self.samples.popleft()
        then, before = self.samples[0]
        return (self.sent - before) / (now - then) if now - then > 0.2 else 0.0


_state = _State()


class _View:
    """The renderable rich redraws from :data:`_state`: the counts; the builds in flight;
    the bytes sent."""

    def __rich__(self) -> Any:
        from rich.filesize import decimal
        from rich.text import Text

        now = time.monotonic()
        with _lock:
            total, done = dict(_state.total), dict(_state.done)
            building = list(_state.building.values())
            sending, sent, to_send = _state.sending, _state.sent, _state.to_send
            rate, elapsed = _state.rate(now), now - _state.started
        spin = _SPINNER[int(elapsed * 10) % len(_SPINNER)]
        lines = [f"{spin} {elapsed:.0f} s · "
                 + " · ".join(f"{_LABELS[k]} {done[k]}/{total[k]}" for k in STEPS)]
        if building:
            lines.append(f"  building {', '.join(building)}")
        if to_send:
            lines.append(f"  sent {decimal(sent)} of {decimal(to_send)} · {decimal(int(rate))}/s"
                         + (f" · {sending} in flight" if sending else ""))
        return Text("\n".join(lines), no_wrap=True, overflow="ellipsis")


def _show() -> None:
    """Start the view if it is wanted and not shown yet."""
    global _live
    if not _enabled:
        return
    from rich.console import Console
    from rich.live import Live

    with _output:
        with _lock:
            if _live is not None or _suspended:
                return
            _live = live = Live(_View(), console=Console(file=sys.stderr), transient=True,
                                refresh_per_second=8, redirect_stdout=False,
                                redirect_stderr=False)
        live.start()  # outside ``_lock``: rich's refresh takes it to read the counts


def expect(counts: Mapping[str, int]) -> None:
    """A run begins: its steps of each kind (:data:`STEPS`), as planned."""
    with _lock:
        _state.started = time.monotonic()
        _state.total.update({k: v for k, v in counts.items() if k in _state.total})


def step_started() -> None:
    """A step that does work began: show the view (if wanted)."""
    _show()


def step_done(kind: str) -> None:
    """A step of ``kind`` ended (ran, failed or was up to date)."""
    with _lock:
        if kind in _state.done:
            _state.done[kind] += 1


@contextlib.contextmanager
def building(*what: str) -> Iterator[None]:
    """Show ``what`` (``<import path> for <platform>``) as a build in flight meanwhile."""
    if not _enabled:
        yield
        return
    _show()
    with _lock:
        keys = [next(_keys) for _ in what]
        _state.building.update(zip(keys, what, strict=True))
    try:
        yield
    finally:
        with _lock:
            for key in keys:
                _state.building.pop(key, None)


class Transfer:
    """One blob on its way: :meth:`advance` by the bytes sent; a context manager."""

    def __init__(self, shown: bool = False) -> None:
        self._shown = shown

    def advance(self, sent: int) -> None:
        """Count ``sent`` more bytes."""
        if self._shown:
            with _lock:
                _state.sent += sent

    def __enter__(self) -> Transfer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._shown:
            with _lock:
                _state.sending -= 1
            self._shown = False


def transfer(total: int) -> Transfer:
    """Start counting a transfer of ``total`` bytes (a no-op unless enabled)."""
    if not _enabled:
        return Transfer()
    _show()
    with _lock:
        _state.sending += 1
        _state.to_send += total
    return Transfer(shown=True)


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """No view meanwhile (a program writes to the terminal itself: kubectl); it comes back
    with the next step, counts kept."""
    global _live, _suspended
    with _output:
        with _lock:
            live, _live = _live, None
            _suspended += 1
        if live is not None:
            live.stop()
    try:
        yield
    finally:
        with _lock:
            _suspended -= 1


def emit(text: str) -> None:
    """Write ``text`` to stderr (above the view while it is shown)."""
    with _output:
        with _lock:
            live = _live
        if live is not None:
            live.console.print(text.rstrip("\n"), markup=False, highlight=False,
                               emoji=False, soft_wrap=True)
        else:
            sys.stderr.write(text)
            sys.stderr.flush()


def stop() -> None:
    """End the view (it disappears) and start counting afresh; later lines go straight to
    stderr."""
    global _live, _state
    with _output:
        with _lock:
            live, _live, _state = _live, None, _State()
        if live is not None:
            live.stop()


# however the process ends, the view goes and the cursor is back
atexit.register(stop)


def set_from_environment() -> None:
    """Show the view from now on if :func:`wanted` says so for stderr and the environment."""
    global _enabled
    _enabled = wanted(sys.stderr, os.environ)
