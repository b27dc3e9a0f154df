"""Vectorized mode against a plain bar-by-bar reference of the fill rules, on real BTC/USDT minutes."""

# The reference walks the bars one at a time the way the event-driven engine does (an order placed
# on a bar's close fills at the next bar's open), decides crosses with the incremental ExactSMACross,
# prices fills with the paper venue's own slippage and tick rounding, keeps money in Decimal, and
# builds round trips from Fill objects with the shared RoundTripTracker. The kernel never looks like
# that, so agreement to the last digit says the arrays implement the same rules.

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from tests.unit.backtest.factories import MINUTE, SAMPLE

from tradeforge.adapters.paper.slippage import FixedBps, round_against
from tradeforge.backtest.metrics import compute_metrics
from tradeforge.backtest.trades import round_trips
from tradeforge.backtest.vectorized import (
    BarArrays,
    VectorizedConfig,
    evaluate,
    load_bars,
    run_signals,
    run_sma_cross,
    signals_from,
    sma_cross_grid,
    sweep,
)
from tradeforge.backtest.vectorized_kernel import signal_changes
from tradeforge.domain.fills import Fill, Liquidity, OrderSide
from tradeforge.indicators import ExactSMACross

D = Decimal


@dataclass
class Reference:
    fills: list[Fill]
    orders: int
    final_equity: Decimal
    equity: list[float]
    exposure_bars: int


def reference(bars: BarArrays, signals: list[int], config: VectorizedConfig) -> Reference:
    """The fill rules one bar at a time, in Decimal."""
    slip = FixedBps(config.slippage_bps)
    pending: OrderSide | None = None
    held = D(0)
    cash = config.cash
    fills: list[Fill] = []
    equity: list[float] = []
    orders = exposure = 0
    for i in range(len(bars)):
        if pending is not None:
            price = slip.adjust(pending, D(repr(float(bars.open[i]))), config.quantity, D(0))
            if config.round_to_tick:
                price = round_against(pending, price, config.tick_size)
            notional = config.quantity * price
            fee = notional * config.fee_rate
            if pending is OrderSide.BUY:
                cash -= notional + fee
                held += config.quantity
            else:
                cash += notional - fee
                held -= config.quantity
            fills.append(
                Fill(
                    f"F{len(fills)}", "O", "c", "main", "paper", config.symbol, pending, config.quantity,
                    price, fee, "USDT", Liquidity.TAKER, int(bars.timestamp[i]),
                )
            )  # fmt: skip
            pending = None
        if signals[i] > 0 and held == 0:
            pending, orders = OrderSide.BUY, orders + 1
        elif signals[i] < 0 and held > 0:
            pending, orders = OrderSide.SELL, orders + 1
        exposure += held > 0
        equity.append(float(cash) + float(held) * float(bars.close[i]))
    final = cash + held * D(repr(float(bars.close[-1])))
    return Reference(fills, orders, final, equity, exposure)


def cross_signals(bars: BarArrays, fast: int, slow: int) -> list[int]:
    cross = ExactSMACross(fast, slow, 2)
    return [cross.update(float(price)) for price in bars.close]


@pytest.fixture(scope="module")
def sample() -> BarArrays:
    return load_bars(SAMPLE)


CASES = [
    pytest.param(10, 30, VectorizedConfig(), id="10/30 qty 1 fee 0.1%"),
    pytest.param(5, 20, VectorizedConfig(quantity=D("0.037"), fee_rate=D("0.00075")), id="fractional"),
    pytest.param(7, 25, VectorizedConfig(slippage_bps=D("3")), id="slippage 3 bps rounded"),
    pytest.param(
        10, 30, VectorizedConfig(slippage_bps=D("2.5"), round_to_tick=False), id="slippage 2.5 bps raw"
    ),
    pytest.param(3, 9, VectorizedConfig(fee_rate=D("0")), id="no fee"),
    # Prices of ~1e5 on a 1e-7 grid with an 8-decimal quantity: int64 would overflow, Python ints take over.
    pytest.param(
        10,
        30,
        VectorizedConfig(
            quantity=D("0.12345678"), tick_size=D("0.0000001"), slippage_bps=D("1.25"), round_to_tick=False
        ),
        id="beyond int64",
    ),
]


@pytest.mark.parametrize(("fast", "slow", "config"), CASES)
@pytest.mark.parametrize("stop", [10_080, 6_000], ids=["week", "6000 bars"])
def test_matches_the_bar_by_bar_reference_to_the_last_digit(
    sample: BarArrays, fast: int, slow: int, config: VectorizedConfig, stop: int
) -> None:
    bars = sample.slice(0, stop)
    run = run_sma_cross(bars, config, fast=fast, slow=slow)
    expected = reference(bars, cross_signals(bars, fast, slow), config)
    result = run.result

    assert len(expected.fills) > 40  # a real week crosses often
    assert result.trips == round_trips(expected.fills, bar_interval_ms=MINUTE)
    assert result.final_equity == expected.final_equity
    assert result.orders == expected.orders
    assert result.metrics.fees_paid == sum((f.fee for f in expected.fills), D(0))
    assert result.metrics.exposure == expected.exposure_bars / len(bars)
    np.testing.assert_allclose(run.equity, expected.equity, rtol=1e-12)
    assert result.bars == len(bars) and result.extra["fills"] == len(expected.fills)
    still_open = len(expected.fills) % 2 == 1
    assert result.extra["open_position"] is still_open
    if still_open:
        last = expected.fills[-1]
        assert run.open_position is not None
        assert (run.open_position.entry_ts, run.open_position.entry_price) == (last.ts, last.price)
    else:
        assert run.open_position is None


def test_the_week_ends_both_ways_in_the_cases_above(sample: BarArrays) -> None:
    """The two slices really cover a flat end and an open position at the end."""
    assert run_sma_cross(sample, VectorizedConfig()).open_position is not None
    assert run_sma_cross(sample.slice(0, 6_000), VectorizedConfig()).open_position is None


def test_signal_rules_enter_when_flat_exit_when_long_and_never_fill_the_last_bar() -> None:
    #          0  1  2   3   4  5  6   7  8   9
    signals = [0, 1, 1, -1, -1, 0, 1, -1, 0, 1]
    entries, exits, pending = signal_changes(signals)
    assert entries.tolist() == [1, 6]  # the repeated +1 on bar 2 is ignored (no pyramiding)
    assert exits.tolist() == [3, 7]  # so is the -1 on bar 4 (already flat)
    assert pending  # bar 9 wants to enter: an order is placed but no bar follows to fill it

    entries, exits, pending = signal_changes([-1, 0, -1, 0])
    assert entries.size == 0 and exits.size == 0 and not pending
    with pytest.raises(ValueError, match="finite"):
        signal_changes([0.0, float("nan"), 1.0])


def test_generic_signals_fill_at_the_next_open_and_count_the_unfilled_last_order() -> None:
    bars = BarArrays(
        np.arange(6, dtype=np.int64) * MINUTE + 1_735_689_600_000,
        np.array([100.0, 101.0, 102.0, 103.0, 104.0, 105.0]),
        np.array([100.5, 101.5, 102.5, 103.5, 104.5, 105.5]),
    )
    entries = [True, False, False, False, True, True]
    exits = [False, False, True, False, False, True]  # bar 5 has both: ignored
    signals = signals_from(entries, exits)
    assert signals.tolist() == [1, 0, -1, 0, 1, 0]
    run = run_signals(bars, signals, VectorizedConfig(fee_rate=D("0.01")), params={"note": "hand"})
    result = run.result
    (trip,) = result.trips
    assert (trip.entry_ts, trip.entry_price, trip.exit_ts, trip.exit_price) == (
        int(bars.timestamp[1]), D("101"), int(bars.timestamp[3]), D("103"),
    )  # fmt: skip
    assert trip.fees == D("2.04") and trip.net_pnl == D("-0.04")
    # The entry on bar 4 fills at bar 5's open (105) and is marked at the last close (105.5).
    assert run.open_position is not None and run.open_position.entry_price == D("105")
    assert result.final_equity == D("10000000") - D("0.04") - D("105") - D("1.05") + D("105.5")
    assert result.orders == 3


def test_buy_at_the_last_bar_is_an_order_but_no_fill() -> None:
    bars = BarArrays(np.array([0, 1, 2]) * MINUTE + 1_735_689_600_000, [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    result = run_signals(bars, [0, 0, 1], VectorizedConfig()).result
    assert result.orders == 1 and result.trips == [] and result.extra["fills"] == 0
    assert result.final_equity == D("10000000") and result.metrics.fees_paid == 0


def test_ties_follow_the_documented_rule() -> None:
    """docs/indicators.md: a touch (+1, 0, +1) is no cross, a pass through a tie crosses on the bar after."""
    closes = [5.0, 4.0, 4.0, 5.0, 6.0, 3.0, 4.0, 4.5, 4.5, 4.5, 5.0]
    bars = BarArrays(np.arange(len(closes)) * MINUTE + 1_735_689_600_000, closes, closes)
    run = run_sma_cross(bars, VectorizedConfig(tick_size=D("0.1")), fast=1, slow=2)
    # fast - slow over bars 1..: -, 0, +, +, -, +, +, 0, 0, +  -> up on 3, down on 5, up on 6, no more
    expected = cross_signals(bars, 1, 2)
    assert [i for i, s in enumerate(expected) if s] == [3, 5, 6]
    trips = run.result.trips
    assert [(t.entry_price, t.exit_price) for t in trips] == [(D("6"), D("4"))]  # bars 4 -> 6
    assert run.open_position is not None and run.open_position.entry_price == D("4.5")  # bar 7


def test_slippage_moves_against_the_trader_and_rounds_to_the_tick_like_the_paper_venue() -> None:
    bars = BarArrays(
        np.arange(4) * MINUTE + 1_735_689_600_000, [0.0, 100.01, 0.0, 99.99], [0.0, 0.0, 0.0, 100.0]
    )
    rounded = run_signals(bars, [1, 0, -1, 0], VectorizedConfig(slippage_bps=D("7"), fee_rate=D(0)))
    (trip,) = rounded.result.trips
    assert (trip.entry_price, trip.exit_price) == (D("100.09"), D("99.92"))  # 100.080007 up, 99.920007 down
    raw = run_signals(
        bars, [1, 0, -1, 0], VectorizedConfig(slippage_bps=D("7"), fee_rate=D(0), round_to_tick=False)
    )
    (trip,) = raw.result.trips
    assert (trip.entry_price, trip.exit_price) == (D("100.0800070"), D("99.9200070"))
    assert raw.result.final_equity == D("10000000") - D("100.0800070") + D("99.9200070")


def test_cash_that_cannot_pay_a_buy_is_refused(sample: BarArrays) -> None:
    with pytest.raises(ValueError, match="cannot pay"):
        run_sma_cross(sample, VectorizedConfig(cash=D("50000")))


def test_prices_off_the_tick_grid_are_refused(sample: BarArrays) -> None:
    with pytest.raises(ValueError, match="decimals"):
        run_sma_cross(sample, VectorizedConfig(tick_size=D("0.1")))


@pytest.mark.parametrize(
    "changes",
    [
        {"quantity": D(0)},
        {"cash": D(-1)},
        {"fee_rate": D("1")},
        {"slippage_bps": D("-1")},
        {"tick_size": D("0.05")},
        {"bar_interval_ms": 0},
    ],
)
def test_config_is_checked(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        VectorizedConfig(**changes)  # type: ignore[arg-type]


def test_result_goes_through_the_shared_json_and_report_path(sample: BarArrays, tmp_path: Path) -> None:
    run = run_sma_cross(sample, VectorizedConfig(), fast=10, slow=30, data_file="sample.parquet")
    summary = json.loads(json.dumps(run.result.summary_json()))
    assert summary["strategy"] == "sma_cross" and summary["mode"] == "vectorized"
    assert summary["params"] == {"fast": 10, "slow": 30, "quantity": "1"}
    assert (
        summary["trades"] == len(run.result.trips) and D(summary["final_equity"]) == run.result.final_equity
    )
    assert summary["bars"] == 10_080 and summary["elapsed_seconds"] > 0
    paths = run.write_report(tmp_path / "out")
    page = paths["report"].read_text(encoding="utf-8")
    assert "sma_cross (vectorized)" in page and "<svg" in page
    written = json.loads(paths["result"].read_text(encoding="utf-8"))
    assert len(written["round_trips"]) == summary["trades"]
    assert written["round_trips"][0] == run.result.trips[0].to_dict()


def test_sweep_rows_equal_single_runs_and_processes_equal_one_process(sample: BarArrays) -> None:
    config = VectorizedConfig()
    grid = sma_cross_grid([3, 10], [9, 30, 60])
    assert grid == [
        {"fast": 3, "slow": 9}, {"fast": 3, "slow": 30}, {"fast": 3, "slow": 60},
        {"fast": 10, "slow": 30}, {"fast": 10, "slow": 60},
    ]  # fmt: skip
    in_process = sweep(sample, grid, config, workers=1)
    in_pool = sweep(sample, grid, config, workers=2)
    assert in_pool == in_process
    spawned = sweep(sample.slice(0, 3_000), grid[:2], config, workers=2, start_method="spawn")
    assert spawned == sweep(sample.slice(0, 3_000), grid[:2], config, workers=1)
    for row, params in zip(in_process, grid, strict=True):
        single = run_sma_cross(sample, config, **params).result
        assert row.params == params
        assert row.final_equity == single.final_equity and row.orders == single.orders
        assert row.metrics == single.metrics  # trade metrics from integers == from RoundTrip objects
    flat = in_process[0].to_dict()
    assert flat["fast"] == 3 and flat["trade_count"] == in_process[0].metrics.trade_count
    assert D(flat["final_equity"]) == in_process[0].final_equity


def test_trade_metrics_from_integers_match_compute_metrics_with_trips(sample: BarArrays) -> None:
    config = VectorizedConfig(quantity=D("0.5"), fee_rate=D("0.0002"))
    row = evaluate(sample, config, {"fast": 5, "slow": 40})
    run = run_sma_cross(sample, config, fast=5, slow=40)
    result = run.result
    assert row.metrics == result.metrics and row.final_equity == result.final_equity
    assert row.metrics.winning_trades > 0 and row.metrics.losing_trades > 0
    exposure_bars = int(np.count_nonzero(np.diff(run.equity) != 0))  # any bar: a real, non-trivial curve
    assert exposure_bars > 0
    rebuilt = compute_metrics(
        run.equity, sample.timestamp, result.trips, result.metrics.fees_paid,
        round(result.metrics.exposure * len(sample)),  # type: ignore[operator]
    )  # fmt: skip
    assert rebuilt == row.metrics


def test_load_bars_reads_a_slice_of_parquet_or_csv(sample: BarArrays, tmp_path: Path) -> None:
    part = load_bars(SAMPLE, 100, 250)
    assert len(part) == 150
    np.testing.assert_array_equal(part.close, sample.close[100:250])
    csv_path = tmp_path / "bars.csv"
    table = pa.table(
        {"timestamp": sample.timestamp[:50], "open": sample.open[:50], "close": sample.close[:50]}
    )
    pcsv.write_csv(table, csv_path)
    from_csv = load_bars(csv_path)
    np.testing.assert_array_equal(from_csv.open, sample.open[:50])
    np.testing.assert_array_equal(from_csv.timestamp, sample.timestamp[:50])
    with pytest.raises(ValueError, match="expected"):
        load_bars(tmp_path / "bars.txt")
    holder = type("Columns", (), {"ts": sample.timestamp, "open": sample.open, "close": sample.close})
    np.testing.assert_array_equal(BarArrays.from_columns(holder).close, sample.close)
    with pytest.raises(ValueError, match="increasing"):
        BarArrays(np.array([2, 1]), np.ones(2), np.ones(2))
