"""Retry policy and circuit breakers, with a fake clock."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import BadRequest, RateLimited, ServerError
from core.policy import BreakerSettings, RetrySettings
from core.calls.resilience import BreakerBoard, CircuitBreaker, RetryPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@given(st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_full_jitter_within_the_cap(attempt, seed):
    policy = RetryPolicy(base_s=0.5, cap_s=8.0, max_attempts=50, rng=random.Random(seed))
    delay = policy.backoff(attempt)
    assert 0.0 <= delay <= min(8.0, 0.5 * 2 ** (attempt - 1))


def test_from_settings_reads_the_policy_section():
    policy = RetryPolicy.from_settings(RetrySettings(base_s=0.1, cap_s=2, max_attempts=4))
    assert (policy.base_s, policy.cap_s, policy.max_attempts) == (0.1, 2, 4)


def test_only_retryable_errors_are_retried():
    policy = RetryPolicy(max_attempts=3)
    assert policy.delay_for(BadRequest("bad", status_code=400), 1) is None
    assert policy.delay_for(ServerError("boom", status_code=500), 1) is not None


def test_attempts_are_bounded():
    policy = RetryPolicy(max_attempts=3)
    error = ServerError("boom", status_code=500)
    assert policy.delay_for(error, 2) is not None
    assert policy.delay_for(error, 3) is None


def test_retry_after_is_honoured():
    policy = RetryPolicy(base_s=0.01, cap_s=0.02, max_attempts=3)
    error = RateLimited("slow down", status_code=429, retry_after=4.0)
    assert policy.delay_for(error, 1, time_left=60.0) == 4.0


def test_retry_after_beyond_the_deadline_gives_up():
    policy = RetryPolicy(max_attempts=5)
    error = RateLimited("slow down", status_code=429, retry_after=30.0)
    assert policy.delay_for(error, 1, time_left=10.0) is None


def test_breaker_state_machine():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=10.0, clock=clock)
    assert breaker.state == "closed"
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow() and breaker.blocking()

    clock.now += 10.0
    assert breaker.state == "half_open" and not breaker.blocking()
    assert breaker.allow()  # the single probe
    assert not breaker.allow() and breaker.blocking()
    breaker.record_failure()  # the probe failed: open again, cooldown restarts
    assert breaker.state == "open"
    clock.now += 9.0
    assert breaker.state == "open"
    clock.now += 1.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.failures == 0 and breaker.allow()


def test_success_resets_the_consecutive_count():
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=1.0, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_unused_probe_can_be_given_back():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=5.0, clock=clock)
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.allow()
    breaker.release_probe()
    assert breaker.allow()


def test_board_counts_only_health_failures_and_snapshots():
    clock = FakeClock()
    board = BreakerBoard(BreakerSettings(failure_threshold=2, cooldown_s=30.0), clock=clock)
    board.record("openai", BadRequest("bad", status_code=400))
    board.record("openai", BadRequest("bad", status_code=400))
    assert not board.blocking("openai")
    board.record("anthropic", ServerError("x", status_code=500))
    board.record("anthropic", RateLimited("x", status_code=429))
    assert board.blocking("anthropic")
    clock.now += 12.0
    state = board.state()
    assert state["anthropic"] == {"state": "open", "failures": 2, "retry_in_s": pytest.approx(18.0)}
    assert state["openai"]["state"] == "closed"
    assert not board.blocking("never-seen")
