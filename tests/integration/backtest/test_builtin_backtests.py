"""Every built-in strategy backtested on real minutes, and the same run through the paper runtime:
the backtester places the same orders and gets the same fills as the service's engines fed bar by bar."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tradeforge.adapters.clocks import SimulatedClock
from tradeforge.adapters.market_data.bar_files import BarFile
from tradeforge.adapters.memory.store import InMemoryStore
from tradeforge.backtest.config import BacktestConfig
from tradeforge.backtest.engine import run_backtest
from tradeforge.backtest.feed import BarColumns
from tradeforge.bus import topics
from tradeforge.domain.fills import Fill
from tradeforge.runtime.bootstrap import Mode, build
from tradeforge.runtime.settings import PaperSettings, Settings
from tradeforge.strategies import registry

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"
BARS = 3_000
CASH = Decimal("1000000")

CASES: dict[str, dict[str, Any]] = {
    "sma_cross": {"fast": 10, "slow": 30, "quantity": "0.05"},
    "rsi_reversion": {"period": 14, "oversold": 30, "overbought": 70, "quantity": "0.05"},
    "breakout": {"entry_period": 20, "exit_period": 10, "quantity": "0.05", "atr_multiplier": 2.0},
    "support_resistance": {"swing": 5, "quantity": "0.01"},
    "grid": {"levels": 4, "spacing_pct": "0.15", "quantity": "0.001", "max_inventory": "0.003"},
}


def key(fill: Fill) -> tuple[object, ...]:
    return (fill.ts, fill.side, fill.quantity, fill.price, fill.fee, fill.liquidity)


def paper_runtime_fills(name: str, params: dict[str, Any]) -> tuple[list[Fill], int]:
    """The service's path: bars through TradingSystem.process_bar (data engine, bus, venue, portfolio,
    runner), market orders filled at the next open as the backtester does."""
    clock = SimulatedClock(0)
    settings = Settings(
        feeds=(),
        strategies=(),
        starting_balances={"USDT": CASH},
        risk={"max_submits_per_second": None, "max_open_orders": None},
        paper=PaperSettings(fill_at="next_open"),
    )
    system = build(settings, Mode.SYNC, clock=clock, uow_factory=InMemoryStore())
    fills: list[Fill] = []
    orders: list[object] = []
    system.bus.subscribe(topics.ALL_FILLS, fills.append)
    system.bus.subscribe(topics.order_event("submitted"), orders.append)
    system.strategies.add("backtest", registry.resolve(name)(params), ["BTC/USDT"])
    bars = BarFile(SAMPLE, system.instruments.find("BTC/USDT")).bars()
    for index, bar in enumerate(bars):
        if index == BARS:
            break
        clock.set(bar.ts)
        if index == 0:
            system.strategies.start("backtest")
        system.process_bar(bar)
    system.close()
    return fills, len(orders)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_builtin_backtests_on_real_minutes_exactly_as_the_paper_runtime_trades(name: str) -> None:
    params = CASES[name]
    bars = BarColumns.from_file(SAMPLE, "BTC/USDT").slice(0, BARS)
    run = run_backtest(
        BacktestConfig(strategy=name, params=params, cash=CASH, risk={"max_open_orders": None}), bars
    )
    assert len(run.fills) >= 4, f"{name} should trade on {BARS} real minutes"
    assert run.result.metrics.trade_count >= 2
    assert run.result.final_equity > 0

    live_fills, live_orders = paper_runtime_fills(name, params)
    assert [key(f) for f in run.fills] == [key(f) for f in live_fills]
    assert run.result.orders == live_orders
