"""Shared builders for strategy tests: a SYNC system on an in-memory store, real sample bars."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.adapters.clocks import SimulatedClock
from tradeforge.adapters.market_data.bar_files import BarFile
from tradeforge.adapters.memory.store import InMemoryStore
from tradeforge.bus import topics
from tradeforge.domain.data import Bar
from tradeforge.domain.events import OrderSubmitted
from tradeforge.domain.fills import Fill
from tradeforge.domain.values import round_to_step
from tradeforge.runtime.bootstrap import Mode, build
from tradeforge.runtime.settings import PaperSettings, Settings
from tradeforge.runtime.system import TradingSystem
from tradeforge.strategies import Strategy, StrategyRunner

T0 = 1_740_787_200_000
FloatArray = npt.NDArray[np.float64]
SAMPLE = Path(__file__).resolve().parents[3] / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"


def make_system(clock: SimulatedClock, **balances: str) -> TradingSystem:
    starting = {asset: Decimal(amount) for asset, amount in (balances or {"USDT": "1000000"}).items()}
    settings = Settings(feeds=(), starting_balances=starting)
    return build(settings, Mode.SYNC, clock=clock, uow_factory=InMemoryStore())


def sample_bars(system: TradingSystem, count: int) -> list[Bar]:
    bars = BarFile(SAMPLE, system.instruments.find("BTC/USDT")).bars()
    return [bar for _, bar in zip(range(count), bars, strict=False)]


def bar(ts: int, o: str, h: str, low: str, c: str, volume: str = "10") -> Bar:
    return Bar("BTC/USDT", "1m", ts, Decimal(o), Decimal(h), Decimal(low), Decimal(c), Decimal(volume))


def feed(system: TradingSystem, clock: SimulatedClock, bars: list[Bar]) -> None:
    for item in bars:
        clock.set(item.close_ts)
        system.process_bar(item)


# --- for the built-in strategy tests -----------------------------------------------------------
def make_next_open_system(clock: SimulatedClock, **balances: str) -> TradingSystem:
    """Like make_system, but market orders wait for the next bar's open, as in a backtest."""
    starting = {asset: Decimal(amount) for asset, amount in (balances or {"USDT": "1000000"}).items()}
    settings = Settings(feeds=(), starting_balances=starting, paper=PaperSettings(fill_at="next_open"))
    return build(settings, Mode.SYNC, clock=clock, uow_factory=InMemoryStore())


@dataclass
class StrategyRun:
    """One strategy hosted on a system, with every order submitted and every fill recorded."""

    clock: SimulatedClock
    system: TradingSystem
    runner: StrategyRunner
    strategy: Strategy[Any]
    strategy_id: str
    submitted: list[OrderSubmitted] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)

    def feed(self, bars: list[Bar], after: Callable[[int, Bar], None] | None = None) -> None:
        """Process the bars in order; after(i, bar) runs once each bar is fully handled."""
        for index, item in enumerate(bars):
            self.clock.set(item.close_ts)
            self.system.process_bar(item)
            if after is not None:
                after(index, item)


def host(
    system: TradingSystem, clock: SimulatedClock, strategy: Strategy[Any], strategy_id: str = "s"
) -> StrategyRun:
    """Add strategy to a new runner on system, start it and record its orders and fills.

    Committed units are delivered in commit order: what the strategy does on hearing a fill (an exit
    that fills on the spot) is delivered after the rest of the fill's unit, so the recording holds
    every event in the order it happened."""
    submitted: list[OrderSubmitted] = []
    fills: list[Fill] = []
    system.bus.subscribe(topics.order_event("submitted"), submitted.append)
    system.bus.subscribe(topics.order_event("filled"), lambda event: fills.append(event.fill))
    runner = StrategyRunner(system)
    run = StrategyRun(clock, system, runner, strategy, strategy_id, submitted, fills)
    runner.add(strategy_id, strategy, ["BTC/USDT"], "1m")
    runner.start(strategy_id)
    return run


def bar_index(bars: list[Bar]) -> dict[int, int]:
    """Bar close time -> position in bars (orders and fills carry the clock time of their bar)."""
    return {item.close_ts: index for index, item in enumerate(bars)}


def columns(bars: list[Bar]) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """open, high, low, close as float arrays, the floats strategies see."""
    data = np.array([[float(b.open), float(b.high), float(b.low), float(b.close)] for b in bars])
    return data[:, 0], data[:, 1], data[:, 2], data[:, 3]


def tick_price(value: float, tick: Decimal = Decimal("0.01")) -> Decimal:
    """A float price put on the tick grid as the strategy context does (half-even)."""
    return round_to_step(Decimal(repr(float(value))), tick)
