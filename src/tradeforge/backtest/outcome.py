"""A finished backtest: orders, fills, equity curve, and the result (round trips, metrics) built from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tradeforge.backtest.config import BacktestConfig
from tradeforge.backtest.feed import BarColumns, FloatArray
from tradeforge.backtest.metrics import compute_metrics
from tradeforge.backtest.report import write_json
from tradeforge.backtest.results import BacktestResult
from tradeforge.backtest.ticks import TickColumns
from tradeforge.backtest.trades import round_trips
from tradeforge.bus.codec import fill_to_dict, order_to_dict
from tradeforge.domain.data import TIMEFRAME_MS
from tradeforge.domain.fills import Fill, OrderSide
from tradeforge.domain.orders import Order
from tradeforge.domain.values import ZERO

if TYPE_CHECKING:
    from tradeforge.runtime.system import TradingSystem


@dataclass(frozen=True, eq=False)
class BacktestRun:
    """Everything one run produced. `result` is what `--json` prints; the rest feeds the report."""

    result: BacktestResult
    columns: BarColumns | TickColumns
    equity: FloatArray
    orders: Sequence[Order]
    fills: Sequence[Fill]
    final_state: str | None = None

    def write_report(self, directory: str | Path) -> dict[str, Path]:
        """Write report.html (equity, drawdown, price with trade markers), result.json (summary and
        round trips), orders.json and fills.json into `directory`; return their paths."""
        target = Path(directory)
        paths = self.result.write_report(
            target,
            title=f"{self.result.strategy} on {self.columns.symbol} {self.columns.timeframe}",
            timestamps_ms=self.columns.ts,
            close=self.columns.close,
            equity=self.equity,
        )
        return {
            **paths,
            "orders": write_json(target / "orders.json", [order_to_dict(o) for o in self.orders]),
            "fills": write_json(target / "fills.json", [fill_to_dict(f) for f in self.fills]),
        }


def equity_curve(
    columns: BarColumns | TickColumns, fills: Sequence[Fill], cash: Decimal, quote: str, base: str
) -> tuple[FloatArray, FloatArray]:
    """(equity per bar at its close, base holding per bar) from the starting cash and the fills.

    A fill belongs to the bar it happened in (its ts is that bar's open time), so bar i's equity
    counts every fill of bars 0..i and marks the holding at bar i's close."""
    size = len(columns)
    cash_delta = np.zeros(size, dtype=np.float64)
    base_delta = np.zeros(size, dtype=np.float64)
    if fills:
        index = np.searchsorted(columns.ts, np.fromiter((f.ts for f in fills), np.int64, len(fills)))
        index = np.minimum(index, size - 1)
        for position, fill in zip(index.tolist(), fills, strict=True):
            notional = float(fill.quantity * fill.price)
            fee = float(fill.fee)
            signed = float(fill.quantity) if fill.side is OrderSide.BUY else -float(fill.quantity)
            cash_delta[position] -= notional if fill.side is OrderSide.BUY else -notional
            base_delta[position] += signed
            if fill.fee_asset == quote:
                cash_delta[position] -= fee
            elif fill.fee_asset == base:
                base_delta[position] -= fee
    holding = np.cumsum(base_delta)
    equity = float(cash) + np.cumsum(cash_delta) + holding * columns.close
    return equity, holding


def build_run(
    *,
    config: BacktestConfig,
    columns: BarColumns | TickColumns,
    strategy_name: str,
    params: dict[str, Any],
    data_file: str | None,
    orders: Sequence[Order],
    fills: Sequence[Fill],
    system: TradingSystem,
    quote: str,
    base: str,
    elapsed_seconds: float,
    final_state: str | None,
) -> BacktestRun:
    equity, holding = equity_curve(columns, fills, config.cash, quote, base)
    trips = round_trips(fills, TIMEFRAME_MS.get(columns.timeframe))
    fees = sum((f.fee if f.fee_asset == quote else f.fee * f.price for f in fills), ZERO)
    metrics = compute_metrics(
        equity, columns.ts, trips, fees, exposure_bars=int(np.count_nonzero(np.abs(holding) > 1e-15))
    )
    account = system.settings.account_id
    final_equity = system.portfolio.equity(account, quote)
    result = BacktestResult(
        strategy=strategy_name,
        params=params,
        data_file=data_file,
        bars=len(columns),
        orders=len(orders),
        elapsed_seconds=elapsed_seconds,
        trips=trips,
        metrics=metrics,
        final_equity=final_equity,
        extra={
            "symbol": columns.symbol,
            "timeframe": columns.timeframe,
            "cash": config.cash,
            "fee_rate": config.fee_rate,
            "slippage": config.slippage,
            "fills": len(fills),
            "open_position": system.portfolio.balance_total(account, base),
            "seed": config.seed,
        },
    )
    return BacktestRun(result, columns, equity, list(orders), list(fills), final_state)
