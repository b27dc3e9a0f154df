"""The event-driven backtester on real bars: fill rules, exact money, determinism, slippage, partial fills."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tradeforge.backtest.config import BacktestConfig
from tradeforge.backtest.engine import BacktestFailed, run_backtest
from tradeforge.backtest.feed import BarColumns
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.fills import OrderSide
from tradeforge.indicators.exact import exact_sma_cross
from tradeforge.strategies.base import BarView, Strategy

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"
FEE = Decimal("0.001")
CASH = Decimal("10000000")


@pytest.fixture(scope="module")
def week() -> BarColumns:
    return BarColumns.from_file(SAMPLE, "BTC/USDT")


def price(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal("0.01"))


def expected_sma_trades(bars: BarColumns, fast: int, slow: int) -> list[tuple[int, OrderSide, Decimal]]:
    """The rule computed independently: exact crosses, long only, next bar's open."""
    signals = exact_sma_cross(bars.close, fast, slow, 2)
    trades: list[tuple[int, OrderSide, Decimal]] = []
    holding = False
    for index in np.flatnonzero(signals).tolist():
        if index + 1 >= len(bars):
            break
        if signals[index] > 0 and not holding:
            trades.append((int(bars.ts[index + 1]), OrderSide.BUY, price(bars.open[index + 1])))
            holding = True
        elif signals[index] < 0 and holding:
            trades.append((int(bars.ts[index + 1]), OrderSide.SELL, price(bars.open[index + 1])))
            holding = False
    return trades


def test_sma_cross_fills_at_the_next_open_after_each_exact_cross_with_exact_money(week: BarColumns) -> None:
    config = BacktestConfig(params={"fast": 10, "slow": 30, "quantity": "1"}, cash=CASH, fee_rate=FEE)
    run = run_backtest(config, week)

    expected = expected_sma_trades(week, 10, 30)
    assert len(expected) > 300
    assert [(f.ts, f.side, f.price) for f in run.fills] == expected
    assert all(f.quantity == Decimal("1") and f.fee == f.price * FEE for f in run.fills)
    assert run.result.orders == len(expected)
    assert len(run.result.trips) == len(expected) // 2

    cash = CASH
    for fill in run.fills:
        notional = fill.price * fill.quantity
        cash += (-notional if fill.side is OrderSide.BUY else notional) - fill.fee
    held = sum((f.quantity if f.side is OrderSide.BUY else -f.quantity for f in run.fills), Decimal(0))
    assert run.result.final_equity == cash + held * price(week.close[-1])
    assert run.equity[-1] == pytest.approx(float(run.result.final_equity), rel=1e-12)
    summary = run.result.summary_json()
    assert summary["trades"] == len(expected) // 2 and summary["bars"] == len(week)
    assert Decimal(summary["final_equity"]) == run.result.final_equity


def test_the_same_inputs_give_the_same_run(week: BarColumns) -> None:
    config = BacktestConfig(params={"fast": 5, "slow": 20, "quantity": "0.5"}, cash=CASH, seed=7)
    first, second = run_backtest(config, week), run_backtest(config, week)

    def fills(run: object) -> list[tuple[object, ...]]:
        return [(f.ts, f.side, f.quantity, f.price, f.fee) for f in run.fills]  # type: ignore[attr-defined]

    assert fills(first) == fills(second) and len(fills(first)) > 100
    assert np.array_equal(first.equity, second.equity)
    one, two = first.result.summary_json(), second.result.summary_json()
    one.pop("elapsed_seconds"), two.pop("elapsed_seconds")
    assert one == two


def test_fixed_slippage_costs_the_taker_on_each_side(week: BarColumns) -> None:
    params = {"fast": 10, "slow": 30, "quantity": "1"}
    clean = run_backtest(BacktestConfig(params=params, cash=CASH), week)
    slipped = run_backtest(
        BacktestConfig(params=params, cash=CASH, slippage="fixed", slippage_bps=Decimal("5")), week
    )
    assert len(clean.fills) == len(slipped.fills) > 0
    for base, fill in zip(clean.fills, slipped.fills, strict=True):
        moved = base.price * (Decimal("1.0005") if fill.side is OrderSide.BUY else Decimal("0.9995"))
        tick = Decimal("0.01")
        # rounded to the tick against the taker: up for buys, down for sells
        expected = (moved / tick).to_integral_value(
            rounding="ROUND_CEILING" if fill.side is OrderSide.BUY else "ROUND_FLOOR"
        ) * tick
        assert fill.price == expected
    assert slipped.result.final_equity < clean.result.final_equity


@dataclass(frozen=True)
class BuyOnceConfig:
    quantity: Decimal = Decimal("50")


class BuyOnce(Strategy[BuyOnceConfig]):
    """Buys a large quantity on the first bar: with a volume cap it fills over several bars."""

    name = "buy_once"
    config_class = BuyOnceConfig

    def on_start(self) -> None:
        self.state["sent"] = False

    def on_bar(self, bar: BarView) -> None:
        if not self.state["sent"]:
            self.ctx.market(bar.symbol, "buy", self.config.quantity)
            self.state["sent"] = True


def test_a_volume_share_splits_a_large_order_into_partial_fills_bounded_by_each_bar(
    week: BarColumns,
) -> None:
    bars = week.slice(0, 400)
    config = BacktestConfig(cash=CASH, max_volume_share=Decimal("0.1"))
    run = run_backtest(config, bars, strategy=BuyOnce())
    assert len(run.fills) > 1
    assert sum(f.quantity for f in run.fills) == Decimal("50")
    index = {int(ts): i for i, ts in enumerate(bars.ts.tolist())}
    for fill in run.fills:
        volume = Decimal(repr(float(bars.volume[index[fill.ts]])))
        assert fill.quantity <= volume * Decimal("0.1")
    assert run.orders[0].status.value == "filled"

    unbounded = run_backtest(BacktestConfig(cash=CASH), bars, strategy=BuyOnce())
    assert len(unbounded.fills) == 1 and unbounded.fills[0].ts == int(bars.ts[1])


@dataclass(frozen=True)
class LimitConfig:
    offset: Decimal = Decimal("150")


class RestingLimit(Strategy[LimitConfig]):
    """A buy limit `offset` below the first close: it must fill on the first later bar trading through it."""

    name = "resting_limit"
    config_class = LimitConfig

    def on_start(self) -> None:
        self.state["limit"] = None

    def on_bar(self, bar: BarView) -> None:
        if self.state["limit"] is None:
            limit = Decimal(repr(bar.close)) - self.config.offset
            self.ctx.limit(bar.symbol, "buy", "0.1", limit)
            self.state["limit"] = str(limit)


def test_a_resting_limit_fills_on_the_first_bar_that_trades_through_it_at_the_limit_or_better(
    week: BarColumns,
) -> None:
    run = run_backtest(BacktestConfig(cash=CASH), week, strategy=RestingLimit())
    assert len(run.fills) == 1
    limit = Decimal(run.final_state and __import__("json").loads(run.final_state)["state"]["limit"])
    fill = run.fills[0]
    lows = [price(v) for v in week.low.tolist()]
    opens = [price(v) for v in week.open.tolist()]
    first = next(i for i in range(1, len(week)) if lows[i] < limit)  # strictly through (not on touch)
    assert fill.ts == int(week.ts[first])
    assert fill.price == min(opens[first], limit)
    assert fill.fee == fill.price * fill.quantity * FEE  # maker fee = fee_rate here


class Exploding(Strategy[BuyOnceConfig]):
    name = "exploding"
    config_class = BuyOnceConfig

    def on_bar(self, bar: BarView) -> None:
        raise RuntimeError("bad strategy code")


def test_a_strategy_error_stops_the_run_with_its_message(week: BarColumns) -> None:
    with pytest.raises(BacktestFailed, match="bad strategy code"):
        run_backtest(BacktestConfig(), week.slice(0, 10), strategy=Exploding())


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cash": Decimal("-1")}, "cash"),
        ({"fee_rate": Decimal("1.5")}, "fee_rate"),
        ({"slippage": "random"}, "slippage"),
        ({"max_volume_share": Decimal("2")}, "max_volume_share"),
        ({"seed": -3}, "seed"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BacktestConfig(**changes)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_unknown_strategy_parameters_are_named(week: BarColumns) -> None:
    with pytest.raises(ValidationError) as caught:
        run_backtest(BacktestConfig(params={"fastest": 3}), week.slice(0, 50))
    assert caught.value.field == "config.fastest"
