"""Clock adapters: the wall clock for paper and live, a settable clock for backtests and tests."""

from __future__ import annotations

import time


class WallClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class SimulatedClock:
    """Time moves only when the driver says so (backtests, deterministic tests)."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def set(self, now_ms: int) -> None:
        if now_ms < self._now:
            raise ValueError(f"simulated time cannot go back from {self._now} to {now_ms}")
        self._now = now_ms

    def advance(self, delta_ms: int) -> None:
        self.set(self._now + delta_ms)
