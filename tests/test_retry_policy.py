"""Which registry failures are tried again, how long kotasks waits, and where it stops."""

from __future__ import annotations

import email.utils

import pytest

from kotasks.errors import UserError
from kotasks.registry.retry import (
    Answers,
    RetryPolicy,
    counting,
    retry_after,
    retryable_status,
)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_answers_that_may_change(status: int) -> None:
    assert retryable_status(status)


@pytest.mark.parametrize("status", [200, 201, 400, 401, 403, 404, 405, 409, 412, 413])
def test_answers_that_will_not(status: int) -> None:
    assert not retryable_status(status)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after("3") == 3.0
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    assert retry_after(date, now=now) == pytest.approx(7.0, abs=1)
    assert retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert retry_after("soon") is None and retry_after(None) is None


def test_attempts_are_capped(capsys: pytest.CaptureFixture[str]) -> None:
    retries = RetryPolicy(attempts=3, seconds=60, base=0).start("upload blob x")
    assert retries.wait("HTTP 503") and retries.wait("HTTP 503")
    assert not retries.wait("HTTP 503")
    assert retries.failures == 3


def test_progress_starts_the_count_of_tries_again() -> None:
    retries = RetryPolicy(attempts=3, seconds=60, base=0).start("upload blob x")
    for _ in range(10):  # each failure after the upload got further
        assert retries.wait("reset") and retries.wait("HTTP 503")
        retries.progressed()
    assert retries.wait("reset") and retries.wait("reset")
    assert not retries.wait("reset")


def test_a_flaky_registry_is_told_from_a_broken_repository() -> None:
    answers = Answers()
    policy = RetryPolicy(attempts=3, seconds=60, base=0)
    flaky = policy.start("check blob in r/a", answers, "r/a")
    broken = policy.start("check blob in r/b", answers, "r/b")
    answers.note("r/a")  # r/a answered once, before
    for _ in range(10):  # between each failure of both, other requests were answered
        answers.note("r/c")
        assert flaky.wait("HTTP 503")
    assert broken.wait("HTTP 503") and broken.wait("HTTP 503")
    assert not broken.wait("HTTP 503")  # r/b never answered anything: no second chance
    assert flaky.wait("HTTP 503") and not flaky.wait("HTTP 503")  # nothing answered since


def test_total_time_is_capped_whatever_the_progress() -> None:
    retries = RetryPolicy(attempts=10, seconds=1.5, base=0).start("push manifest")
    assert retries.wait("HTTP 429", server_asks=1.0)
    retries.progressed()
    assert not retries.wait("HTTP 429", server_asks=1.0)  # 2 s would exceed 1.5 s


def test_the_time_of_failed_tries_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("kotasks.registry.retry.time.monotonic", lambda: clock[0])
    retries = RetryPolicy(attempts=10, seconds=5, base=0).start("fetch blob")
    clock[0] += 3  # a try that hung 3 s, then failed
    assert retries.wait("timed out")
    clock[0] += 3
    assert not retries.wait("timed out")


def test_retry_after_is_honoured_past_the_backoff_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("kotasks.registry.retry.time.sleep", slept.append)
    retries = RetryPolicy(attempts=3, seconds=100, base=0.01).start("push manifest")
    assert retries.wait("HTTP 429", server_asks=45.0)
    assert slept == [45.0]


def test_retries_are_counted_where_asked() -> None:
    import contextvars
    import threading

    with counting() as count:
        retries = RetryPolicy(attempts=5, seconds=10, base=0).start("a")
        retries.wait("HTTP 503")
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(
            lambda: RetryPolicy(attempts=5, seconds=10, base=0).start("b").wait("reset"),))
        thread.start()
        thread.join()
    RetryPolicy(attempts=5, seconds=10, base=0).start("c").wait("HTTP 503")
    assert count.retries == 2


def test_each_retry_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    retries = RetryPolicy(attempts=2, seconds=10, base=0).start("check blob in r/x")
    with caplog.at_level("WARNING", logger="kotasks"):
        retries.wait("HTTP 503")
        [line] = [r.getMessage() for r in caplog.records]
        assert line == "kotasks: retrying check blob in r/x: HTTP 503; waiting 0.0 s (try 2 of 2)"
        retries = RetryPolicy(attempts=3, seconds=10, base=0).start("upload blob b to r/x")
        retries.progressed()
        retries.wait("reset")
    assert caplog.records[-1].getMessage() == (
        "kotasks: retrying upload blob b to r/x: reset; waiting 0.0 s (try 2 of 3 since it "
        "last got further)")


def test_environment_settings() -> None:
    policy = RetryPolicy.from_environment({"KOTASKS_RETRY_ATTEMPTS": "2",
                                           "KOTASKS_RETRY_SECONDS": "5",
                                           "KOTASKS_RETRY_BASE": "0.1"})
    assert policy == RetryPolicy(2, 5.0, 0.1)
    assert RetryPolicy.from_environment({}) == RetryPolicy()
    with pytest.raises(UserError, match="KOTASKS_RETRY_ATTEMPTS=many: expected a number"):
        RetryPolicy.from_environment({"KOTASKS_RETRY_ATTEMPTS": "many"})
