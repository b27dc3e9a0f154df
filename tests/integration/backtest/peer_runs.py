"""The agreed SMA-crossover setup and what every runner reports, without pandas: the benchmark's
event-driven child imports only this, so its peak memory is the engine's own."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Setup:
    """The agreed strategy and fill rules."""

    fast: int = 10
    slow: int = 30
    quantity: int = 1
    fee_rate: Decimal = Decimal("0.001")
    cash: Decimal = Decimal("10000000")


@dataclass(frozen=True, slots=True)
class Trip:
    """One closed round trip: fill times are the filling bar's open time (epoch ms)."""

    entry_ts: int
    entry_price: Decimal
    exit_ts: int
    exit_price: Decimal


@dataclass(slots=True)
class PeerRun:
    """What every runner reports. seconds (wall) and cpu_seconds (this process) time the run itself:
    data already loaded, result not yet converted for comparison."""

    trips: list[Trip]
    open_entry: tuple[int, Decimal] | None
    final_equity: Decimal
    seconds: float
    cpu_seconds: float
    notes: dict[str, Any] = field(default_factory=dict)


class Stopwatch:
    """Wall and CPU time of a block; CPU time barely moves when other processes share the cores."""

    seconds = 0.0
    cpu_seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu_seconds = time.process_time() - self._cpu
