"""When a registry operation is tried again, and how long to wait before it.

Worth another try: connection errors, resets and timeouts, and the answers 408, 429 and 5xx.
Never: 400, 401 (after one fresh challenge), 403, 404 and the other answers that will not
change. Waits grow exponentially from ``KOTASKS_RETRY_BASE`` seconds with jitter (a random
wait between half and all of the step, at most :data:`MAX_WAIT`), or are what the server's
``Retry-After`` asks (seconds or an HTTP date).

Two bounds. ``KOTASKS_RETRY_ATTEMPTS`` counts tries *without progress*: an operation of many
steps (a blob upload: its session started, its chunks accepted) starts that count again each
time it gets further, and any operation starts it again when, since its last failed try, the
registry answered other requests while its repository has answered before (the registry is
flaky, not broken): so a long upload through a flaky network is not given up while the
registry keeps answering, and a repository that answers nothing still ends within a few
tries. ``KOTASKS_RETRY_SECONDS`` bounds the time an operation spends on
failed tries and waits in all, progress or not: it always holds, so a registry that keeps
failing, or asks to wait longer, ends the operation within it. Each retry is one line on
stderr, and counted for ``--report`` (:func:`counting`).
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

log = logging.getLogger("kotasks")

DEFAULT_ATTEMPTS = 6
DEFAULT_SECONDS = 120.0
DEFAULT_BASE = 0.5
#: the longest single wait, whatever the step or the server asks
MAX_WAIT = 30.0


def retryable_status(status: int) -> bool:
    """Whether an HTTP answer may change if asked again."""
    return status in (408, 429) or 500 <= status <= 599


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    from kotasks.errors import UserError

    text = environ.get(name, "")
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{name}={text}: expected a number") from None
    if value < 0:
        raise UserError(f"{name}={text}: expected a number of 0 or more")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """How many tries a request gets and how long it may wait in all."""

    attempts: int = DEFAULT_ATTEMPTS
    seconds: float = DEFAULT_SECONDS
    base: float = DEFAULT_BASE

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        """The policy ``KOTASKS_RETRY_ATTEMPTS``/``_SECONDS``/``_BASE`` ask for."""
        env = os.environ if environ is None else environ
        return cls(max(1, int(_number(env, "KOTASKS_RETRY_ATTEMPTS", DEFAULT_ATTEMPTS))),
                   _number(env, "KOTASKS_RETRY_SECONDS", DEFAULT_SECONDS),
                   _number(env, "KOTASKS_RETRY_BASE", DEFAULT_BASE))

    def start(self, what: str, answers: Answers | None = None, repository: str = ""
              ) -> Retries:
        """The retry budget of one operation (a request, or a blob upload across its
        sessions and chunks) on ``repository``, judged with the registry's ``answers``."""
        return Retries(self, what, answers, repository)


class Answers:
    """The answers (anything but a failure worth retrying) one registry gave: how many, and
    which repositories got one (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self._repositories: set[str] = set()

    def note(self, repository: str) -> None:
        """The registry answered a request about ``repository`` ("" for none)."""
        with self._lock:
            self.total += 1
            self._repositories.add(repository)

    def since(self, mark: int, repository: str) -> bool:
        """Whether answers came after ``mark`` (a ``total`` read before) and ``repository``
        has had one."""
        with self._lock:
            return self.total > mark and repository in self._repositories


class RetryCount:
    """How many retries the operations of one step made (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.retries = 0

    def add(self) -> None:
        with self._lock:
            self.retries += 1


_counting: ContextVar[RetryCount | None] = ContextVar("kotasks_retry_count", default=None)


@contextmanager
def counting() -> Iterator[RetryCount]:
    """Count the retries made in this context (and in threads started with a copy of it,
    ``contextvars.copy_context().run``)."""
    count = RetryCount()
    token = _counting.set(count)
    try:
        yield count
    finally:
        _counting.reset(token)


class Retries:
    """One operation's tries: :meth:`wait` sleeps before the next, or says there is none;
    :meth:`progressed` says the operation got further."""

    def __init__(self, policy: RetryPolicy, what: str, answers: Answers | None = None,
                 repository: str = "") -> None:
        self.policy, self.what = policy, what
        self._answers, self._repository = answers, repository
        self._mark = answers.total if answers is not None else 0
        #: tries that failed since the operation last got further
        self.failures = 0
        #: seconds spent on failed tries and waits, never reset
        self.spent = 0.0
        self._since = time.monotonic()
        self._progressed = False
        self._count = _counting.get()

    def progressed(self) -> None:
        """The operation got further (bytes accepted, a step done): tries count from one."""
        self.failures = 0
        self._progressed = True
        self._since = time.monotonic()

    def wait(self, reason: str, server_asks: float | None = None) -> bool:
        """After a failed try: sleep before the next and return True, or return False when
        the budget is spent."""
        self.spent += time.monotonic() - self._since
        if self._answers is not None:
            if self._answers.since(self._mark, self._repository):
                self.progressed()  # flaky, not broken: others got answers meanwhile
            self._mark = self._answers.total
        self.failures += 1
        if self.failures >= self.policy.attempts:
            return False
        step = min(self.policy.base * 2 ** (self.failures - 1), MAX_WAIT)
        delay = server_asks if server_asks is not None else random.uniform(step / 2, step)
        if self.spent + delay > self.policy.seconds:
            log.warning("kotasks: not retrying %s: %s; %.0f s spent and %.1f s more would "
                        "exceed KOTASKS_RETRY_SECONDS=%g", self.what, reason, self.spent,
                        delay, self.policy.seconds)
            return False
        if self._count is not None:
            self._count.add()
        since = " since it last got further" if self._progressed else ""
        log.warning("kotasks: retrying %s: %s; waiting %.1f s (try %d of %d%s)", self.what,
                    reason, delay, self.failures + 1, self.policy.attempts, since)
        time.sleep(delay)
        self.spent += delay
        self._since = time.monotonic()
        return True
