"""Clock port: engines ask it for the time so backtests run on simulated time."""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Current time in epoch milliseconds (UTC)."""
        ...
