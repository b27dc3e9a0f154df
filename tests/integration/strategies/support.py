"""Shared builders for strategy tests: a SYNC system on an in-memory store, real sample bars."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tradeforge.adapters.clocks import SimulatedClock
from tradeforge.adapters.market_data.bar_files import BarFile
from tradeforge.adapters.memory.store import InMemoryStore
from tradeforge.domain.data import Bar
from tradeforge.runtime.bootstrap import Mode, build
from tradeforge.runtime.settings import Settings
from tradeforge.runtime.system import TradingSystem

T0 = 1_740_787_200_000
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
