"""When a registry request is tried again, and how long to wait before it.

Worth another try: connection errors, resets and timeouts, and the answers 408, 429 and 5xx.
Never: 400, 401 (after one fresh challenge), 403, 404 and the other answers that will not
change. Waits grow exponentially from ``KOTASKS_RETRY_BASE`` seconds with full jitter
(a random wait between half and all of the step), or follow the server's ``Retry-After``
(seconds or an HTTP date), and are capped: at most ``KOTASKS_RETRY_ATTEMPTS`` tries and
``KOTASKS_RETRY_SECONDS`` of waiting per request. Each retry is one line on stderr.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import time
from collections.abc import Mapping
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

    def start(self, what: str) -> Retries:
        """The retry budget of one request (or one blob upload, across its sessions)."""
        return Retries(self, what)


class Retries:
    """One request's tries: :meth:`wait` sleeps before the next, or says there is none."""

    def __init__(self, policy: RetryPolicy, what: str) -> None:
        self.policy, self.what = policy, what
        self.tried = 1
        self.waited = 0.0

    def wait(self, reason: str, server_asks: float | None = None) -> bool:
        """Sleep before another try and return True, or return False when out of budget."""
        if self.tried >= self.policy.attempts:
            return False
        step = self.policy.base * 2 ** (self.tried - 1)
        delay = server_asks if server_asks is not None else random.uniform(step / 2, step)
        delay = min(delay, MAX_WAIT)
        if self.waited + delay > self.policy.seconds:
            return False
        self.tried += 1
        self.waited += delay
        log.warning("kotasks: retrying %s: %s; waiting %.1f s (try %d of %d)", self.what,
                    reason, delay, self.tried, self.policy.attempts)
        time.sleep(delay)
        return True
