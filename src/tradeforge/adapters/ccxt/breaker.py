"""Circuit breaker per venue: closed, open after repeated transient failures, half-open probes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """failure_threshold consecutive transient failures open the circuit; after cool_down_s one
    probe request may go (half-open); its success closes the circuit, its failure reopens it."""

    failure_threshold: int = 5
    cool_down_s: float = 30.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if self.cool_down_s < 0:
            raise ValueError("cool_down_s must not be negative")


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """What /ready and the metrics read."""

    venue: str
    state: BreakerState
    consecutive_failures: int
    opened_at: float | None  # the breaker's clock (monotonic seconds)
    last_failure: str
    transitions: int


class CircuitBreaker:
    """Single-threaded (the adapter's event loop). `clock` is monotonic seconds (injectable for tests)."""

    def __init__(
        self,
        venue: str,
        config: BreakerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.venue = venue
        self.config = config or BreakerConfig()
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._last_failure = ""
        self._transitions = 0
        self._listeners: list[Callable[[BreakerSnapshot], None]] = []

    @property
    def state(self) -> BreakerState:
        opened_at = self._opened_at
        cooled = opened_at is not None and self._clock() - opened_at >= self.config.cool_down_s
        if self._state is BreakerState.OPEN and cooled:
            self._move(BreakerState.HALF_OPEN)
        return self._state

    def on_change(self, listener: Callable[[BreakerSnapshot], None]) -> None:
        """Call listener(snapshot) on every state change (metrics, /ready, logs)."""
        self._listeners.append(listener)

    def allow(self, probe: bool = False) -> bool:
        """May a request go now? In half-open only a probe may, and only one at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and probe and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._probing = False
        if self._state is not BreakerState.CLOSED:
            self._opened_at = None
            self._move(BreakerState.CLOSED)

    def record_failure(self, reason: str) -> None:
        """A transient failure (unavailable, timeout, 5xx)."""
        self._failures += 1
        self._last_failure = reason
        state = self.state
        if state is BreakerState.HALF_OPEN or (
            state is BreakerState.CLOSED and self._failures >= self.config.failure_threshold
        ):
            self._probing = False
            self._opened_at = self._clock()
            self._move(BreakerState.OPEN)

    def release_probe(self) -> None:
        """A probe ended with an answer that says nothing about health (a client error)."""
        self._probing = False

    def snapshot(self) -> BreakerSnapshot:
        return BreakerSnapshot(
            self.venue, self.state, self._failures, self._opened_at, self._last_failure, self._transitions
        )

    def _move(self, state: BreakerState) -> None:
        if state is self._state:
            return
        self._state = state
        self._transitions += 1
        snapshot = BreakerSnapshot(
            self.venue, state, self._failures, self._opened_at, self._last_failure, self._transitions
        )
        for listener in self._listeners:
            listener(snapshot)
