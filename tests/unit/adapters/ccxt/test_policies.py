"""Retry schedule, circuit breaker and in-process token bucket: pure state machines on fake clocks."""

from __future__ import annotations

import asyncio

import pytest

from tradeforge.adapters.ccxt.breaker import BreakerConfig, BreakerState, CircuitBreaker
from tradeforge.adapters.ccxt.rate_limit import LocalTokenBucket
from tradeforge.adapters.ccxt.retry import RetryPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def delays(policy: RetryPolicy, retry_after: float | None = None) -> list[float]:
    backoff = policy.source().backoff()
    out = []
    while (delay := backoff.next_delay(retry_after)) is not None:
        out.append(delay)
    return out


def test_backoff_is_exponential_with_bounded_jitter_and_deterministic_under_a_seed() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay_s=1, max_delay_s=8, multiplier=2, jitter=0.5, seed=3)
    first = delays(policy)
    assert first == delays(policy)  # same seed, same schedule
    assert len(first) == 5  # six attempts: five waits
    for delay, raw in zip(first, [1, 2, 4, 8, 8], strict=True):
        assert raw * 0.5 <= delay <= raw
    assert delays(RetryPolicy(max_attempts=6, base_delay_s=1, max_delay_s=8, seed=4)) != first
    assert delays(RetryPolicy(max_attempts=3, jitter=0, base_delay_s=0.5)) == [0.5, 1.0]


def test_retry_after_is_a_floor_and_one_attempt_means_no_retry() -> None:
    assert all(d >= 30 for d in delays(RetryPolicy(max_attempts=3, seed=1), retry_after=30))
    assert delays(RetryPolicy(max_attempts=1)) == []
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)


def test_breaker_opens_after_consecutive_failures_and_probes_once_when_half_open() -> None:
    clock = Clock()
    breaker = CircuitBreaker("binance", BreakerConfig(failure_threshold=3, cool_down_s=10), clock)
    breaker.record_failure("503")
    breaker.record_failure("503")
    breaker.record_success()  # consecutive failures only
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure("timeout")
    assert breaker.state is BreakerState.OPEN and not breaker.allow() and not breaker.allow(probe=True)
    clock.now += 9.9
    assert breaker.state is BreakerState.OPEN
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # only a probe may pass
    assert breaker.allow(probe=True) and not breaker.allow(probe=True)  # one probe at a time
    breaker.record_failure("probe 503")
    assert breaker.state is BreakerState.OPEN
    clock.now += 10
    assert breaker.allow(probe=True)
    breaker.record_success()
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.consecutive_failures, snapshot.transitions) == (
        BreakerState.CLOSED,
        0,
        5,
    )
    assert snapshot.last_failure == "probe 503"


def test_token_bucket_spends_refills_and_pauses() -> None:
    clock = Clock()
    bucket = LocalTokenBucket(10, 2, clock=clock)

    async def scenario() -> None:
        assert await bucket.try_acquire(6) == 0 and bucket.remaining() == 4
        assert await bucket.try_acquire(6) == pytest.approx(1.0)  # 2 missing at 2/s
        clock.now += 1
        assert await bucket.try_acquire(6) == 0 and bucket.remaining() == 0
        clock.now += 100
        assert bucket.remaining() == 10  # never above capacity
        await bucket.pause(5)
        assert await bucket.try_acquire(1) == pytest.approx(5)
        clock.now += 5
        assert await bucket.try_acquire(25) == 0  # heavier than capacity: takes a full bucket

    asyncio.run(scenario())


def test_acquire_waits_for_tokens() -> None:
    clock = Clock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    bucket = LocalTokenBucket(1, 4, clock=clock, sleep=sleep)

    async def scenario() -> None:
        await bucket.acquire(1)
        await bucket.acquire(1)
        await bucket.acquire(0)

    asyncio.run(scenario())
    assert slept == [pytest.approx(0.25)]
