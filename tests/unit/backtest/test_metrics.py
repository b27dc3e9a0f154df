"""Metrics against straightforward loop computations, on hand-made, synthetic and real equity curves."""

from __future__ import annotations

import json
import math
import statistics
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from tests.unit.backtest.factories import MINUTE, START, sample_closes, trip

from tradeforge.backtest.metrics import MS_PER_YEAR, Metrics, compute_metrics, infer_periods_per_year

D = Decimal
REL = 1e-9


# Reference implementations: plain loops over Python floats, written from the definitions.


def ref_returns(equity: list[float]) -> list[float]:
    return [equity[i] / equity[i - 1] - 1.0 for i in range(1, len(equity))]


def ref_sharpe_sortino_vol(equity: list[float], periods: float) -> tuple[float, float, float]:
    returns = ref_returns(equity)
    n = len(returns)
    mean = sum(returns) / n
    variance = sum((r - mean) ** 2 for r in returns) / (n - 1)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / n)
    std = math.sqrt(variance)
    return mean / std * math.sqrt(periods), mean / downside * math.sqrt(periods), std * math.sqrt(periods)


def ref_drawdown(equity: list[float], ts: list[int]) -> tuple[float, int, int]:
    """(max drawdown, and the longest drawdown episode by time as (ms, bars) from peak to recovery)."""
    worst = 0.0
    peak_value, peak_index = equity[0], 0
    episodes: list[tuple[int, int]] = []
    for i, value in enumerate(equity):
        if value >= peak_value:
            if i - peak_index >= 2:  # at least one bar underwater in between
                episodes.append((ts[i] - ts[peak_index], i - peak_index))
            peak_value, peak_index = value, i
        else:
            worst = max(worst, (peak_value - value) / peak_value)
    last = len(equity) - 1
    if equity[last] < peak_value:
        episodes.append((ts[last] - ts[peak_index], last - peak_index))
    best_ms, best_bars = 0, 0
    for ms, bars in episodes:
        if ms > best_ms:
            best_ms, best_bars = ms, bars
    if best_ms == 0:
        best_bars = max((bars for _, bars in episodes), default=0)
    return worst, best_ms, best_bars


def ref_cagr(equity: list[float], ts: list[int]) -> float:
    years = (ts[-1] - ts[0]) / (365 * 24 * 3600 * 1000)
    growth: float = (equity[-1] / equity[0]) ** (1 / years)
    return growth - 1


def minutes(n: int) -> npt.NDArray[np.int64]:
    return START + np.arange(n, dtype=np.int64) * MINUTE


def assert_json_clean(metrics: Metrics) -> dict[str, Any]:
    payload = metrics.to_dict()
    json.dumps(payload, allow_nan=False)  # raises on NaN or infinity
    for value in payload.values():
        assert value is None or isinstance(value, str | int | float)
    return payload


def test_a_hand_made_curve() -> None:
    equity = np.array([100.0, 110.0, 99.0, 105.0, 121.0, 90.0, 95.0])
    metrics = compute_metrics(equity, minutes(7), [], D(0), exposure_bars=4)
    assert metrics.bars == 7 and metrics.periods_per_year == 525_600
    assert metrics.total_return == pytest.approx(-0.05, rel=REL)
    assert metrics.max_drawdown == pytest.approx(31 / 121, rel=REL)
    # 110 (bar 1) is regained at bar 4: 3 bars; 121 (bar 4) is never regained: 2 bars to the end.
    assert (metrics.max_drawdown_duration_bars, metrics.max_drawdown_duration_ms) == (3, 3 * MINUTE)
    assert metrics.exposure == pytest.approx(4 / 7)
    assert (metrics.start_ts, metrics.end_ts) == (START, START + 6 * MINUTE)
    sharpe, sortino, vol = ref_sharpe_sortino_vol(equity.tolist(), 525_600)
    assert metrics.sharpe == pytest.approx(sharpe, rel=REL)
    assert metrics.sortino == pytest.approx(sortino, rel=REL)
    assert metrics.volatility == pytest.approx(vol, rel=REL)
    assert metrics.cagr == -1.0  # -5 % every six minutes for a year leaves nothing a float can hold
    assert metrics.calmar == pytest.approx(-121 / 31, rel=REL)
    assert_json_clean(metrics)


def test_the_drawdown_episode_is_chosen_by_time_when_bars_are_irregular() -> None:
    equity = np.array([100.0, 90.0, 80.0, 70.0, 100.0, 95.0, 100.0])
    ts = np.array([0, 1, 2, 3, 4, 5, 1_000], dtype=np.int64) * MINUTE
    metrics = compute_metrics(equity, ts, [], D(0), 0)
    # Four bars from bar 0 to its recovery take 4 minutes; two bars from bar 4 to bar 6 take 996.
    assert (metrics.max_drawdown_duration_ms, metrics.max_drawdown_duration_bars) == (996 * MINUTE, 2)
    assert metrics.max_drawdown == pytest.approx(0.3)
    worst, duration_ms, duration_bars = ref_drawdown(equity.tolist(), ts.tolist())
    assert worst == pytest.approx(0.3) and (duration_ms, duration_bars) == (996 * MINUTE, 2)


def test_synthetic_random_walk_agrees_with_the_loops() -> None:
    rng = np.random.default_rng(7)
    equity = 1_000.0 * np.exp(np.cumsum(rng.normal(0.0001, 0.01, 5_000)))
    ts = START + np.arange(5_000, dtype=np.int64) * 3_600_000  # hourly bars
    metrics = compute_metrics(equity, ts, [], D(0), 0)
    check_against_reference(metrics, equity, ts, periods=8_760.0)


def test_real_btcusdt_equity_agrees_with_the_loops() -> None:
    ts, closes = sample_closes()
    quantity = 0.25
    equity = 10_000.0 + quantity * closes  # cash plus a fixed 0.25 BTC marked at each close
    metrics = compute_metrics(equity, ts, [], D(0), exposure_bars=closes.size)
    assert metrics.bars == 10_080 and metrics.exposure == 1.0
    check_against_reference(metrics, equity, ts, periods=525_600.0)
    assert metrics.max_drawdown is not None and 0 < metrics.max_drawdown < 1


def check_against_reference(
    metrics: Metrics, equity: npt.NDArray[np.float64], ts: npt.NDArray[np.int64], periods: float
) -> None:
    values, stamps = equity.tolist(), ts.tolist()
    diffs = [stamps[i] - stamps[i - 1] for i in range(1, len(stamps))]
    assert metrics.periods_per_year == pytest.approx(MS_PER_YEAR / statistics.median(diffs), rel=REL)
    assert metrics.periods_per_year == pytest.approx(periods, rel=REL)
    sharpe, sortino, vol = ref_sharpe_sortino_vol(values, periods)
    assert metrics.sharpe == pytest.approx(sharpe, rel=REL)
    assert metrics.sortino == pytest.approx(sortino, rel=REL)
    assert metrics.volatility == pytest.approx(vol, rel=REL)
    worst, duration_ms, duration_bars = ref_drawdown(values, stamps)
    assert metrics.max_drawdown == pytest.approx(worst, rel=REL)
    assert (metrics.max_drawdown_duration_ms, metrics.max_drawdown_duration_bars) == (
        duration_ms,
        duration_bars,
    )
    cagr = ref_cagr(values, stamps)
    assert metrics.cagr == pytest.approx(cagr, rel=1e-7)
    assert metrics.calmar == pytest.approx(cagr / worst, rel=1e-7)
    assert metrics.total_return == pytest.approx(values[-1] / values[0] - 1, rel=REL)
    assert_json_clean(metrics)


def test_trade_metrics_are_exact_decimals() -> None:
    trips = [trip("30"), trip("-10"), trip("20"), trip("-5"), trip("0")]
    metrics = compute_metrics(np.array([100.0, 101.0]), minutes(2), trips, D("1.25"), 1)
    assert (metrics.trade_count, metrics.winning_trades, metrics.losing_trades) == (5, 2, 2)
    assert metrics.win_rate == pytest.approx(0.4)  # a break-even trip is not a win
    assert (metrics.gross_profit, metrics.gross_loss) == (D(50), D(15))
    assert metrics.profit_factor == pytest.approx(50 / 15)
    assert metrics.expectancy == D(7)
    assert metrics.fees_paid == D("1.25")
    payload = assert_json_clean(metrics)
    assert payload["expectancy"] == "7" and payload["fees_paid"] == "1.25" and payload["gross_loss"] == "15"


def test_profit_factor_without_losses_is_none_and_without_wins_is_zero() -> None:
    equity, ts = np.array([1.0, 1.0]), minutes(2)
    assert compute_metrics(equity, ts, [trip("3"), trip("4")], D(0), 0).profit_factor is None
    assert compute_metrics(equity, ts, [trip("-3")], D(0), 0).profit_factor == 0.0
    no_trades = compute_metrics(equity, ts, [], D(0), 0)
    assert (no_trades.trade_count, no_trades.win_rate, no_trades.profit_factor, no_trades.expectancy) == (
        0,
        None,
        None,
        None,
    )


def test_flat_equity_has_no_ratios_but_zero_risk() -> None:
    metrics = compute_metrics(np.full(100, 5_000.0), minutes(100), [], D(0), 0)
    assert (metrics.total_return, metrics.cagr, metrics.volatility, metrics.max_drawdown) == (
        0.0,
        0.0,
        0.0,
        0.0,
    )
    assert (metrics.sharpe, metrics.sortino, metrics.calmar) == (None, None, None)
    assert (metrics.max_drawdown_duration_ms, metrics.max_drawdown_duration_bars) == (0, 0)
    assert_json_clean(metrics)


def test_one_bar_and_no_bars() -> None:
    one = compute_metrics(np.array([100.0]), minutes(1), [], D(0), 1)
    assert (one.bars, one.total_return, one.max_drawdown, one.exposure) == (1, 0.0, 0.0, 1.0)
    assert (one.periods_per_year, one.cagr, one.sharpe, one.sortino, one.volatility) == (None,) * 5
    assert_json_clean(one)
    empty = compute_metrics(np.array([]), np.array([], dtype=np.int64), [], D(0), 0)
    assert (empty.bars, empty.start_ts, empty.total_return, empty.max_drawdown, empty.exposure) == (
        0,
        None,
        None,
        None,
        None,
    )
    assert_json_clean(empty)


def test_only_rising_equity_has_no_sortino() -> None:
    metrics = compute_metrics(np.linspace(100.0, 200.0, 50), minutes(50), [], D(0), 0)
    assert metrics.sortino is None and metrics.sharpe is not None and metrics.sharpe > 0
    assert metrics.max_drawdown == 0.0 and metrics.calmar is None


def test_non_positive_equity_leaves_return_metrics_undefined() -> None:
    ts = minutes(4)
    blown = compute_metrics(np.array([100.0, 50.0, -10.0, 5.0]), ts, [], D(0), 0)
    assert blown.total_return == pytest.approx(-0.95)
    assert blown.max_drawdown == pytest.approx(1.1)  # below zero: more than the whole peak
    assert (blown.sharpe, blown.sortino, blown.volatility) == (None, None, None)
    to_zero = compute_metrics(np.array([100.0, 50.0, 0.0]), minutes(3), [], D(0), 0)
    assert to_zero.cagr == -1.0 and to_zero.max_drawdown == 1.0 and to_zero.sharpe is not None
    negative_start = compute_metrics(np.array([-1.0, 2.0]), minutes(2), [], D(0), 0)
    assert (negative_start.total_return, negative_start.max_drawdown, negative_start.cagr) == (
        None,
        None,
        None,
    )
    for metrics in (blown, to_zero, negative_start):
        assert_json_clean(metrics)


def test_cagr_that_overflows_a_float_is_none() -> None:
    metrics = compute_metrics(np.array([1.0, 1_000.0]), np.array([0, 1_000], dtype=np.int64), [], D(0), 0)
    assert metrics.cagr is None and metrics.calmar is None and metrics.total_return == 999.0


def test_given_periods_per_year_overrides_the_inference() -> None:
    equity = np.array([100.0, 101.0, 99.0, 102.0])
    metrics = compute_metrics(equity, minutes(4), [], D(0), 0, periods_per_year=252.0)
    sharpe, _, _ = ref_sharpe_sortino_vol(equity.tolist(), 252.0)
    assert metrics.periods_per_year == 252.0 and metrics.sharpe == pytest.approx(sharpe, rel=REL)
    assert infer_periods_per_year(np.array([0, 86_400_000, 172_800_000], dtype=np.int64)) == 365.0


def test_inconsistent_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="equal length"):
        compute_metrics(np.array([1.0, 2.0]), minutes(3), [], D(0), 0)
    with pytest.raises(ValueError, match="NaN"):
        compute_metrics(np.array([1.0, math.nan]), minutes(2), [], D(0), 0)
    with pytest.raises(ValueError, match="non-decreasing"):
        compute_metrics(np.array([1.0, 2.0]), minutes(2)[::-1], [], D(0), 0)
    with pytest.raises(ValueError, match="exposure_bars"):
        compute_metrics(np.array([1.0, 2.0]), minutes(2), [], D(0), 3)
    with pytest.raises(ValueError, match="periods_per_year"):
        compute_metrics(np.array([1.0, 2.0]), minutes(2), [], D(0), 0, periods_per_year=0.0)


def test_a_year_of_minute_bars() -> None:
    n = 525_600
    rng = np.random.default_rng(3)
    equity = 10_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0005, n)))
    metrics = compute_metrics(equity, minutes(n), [trip("1")], D("12.5"), exposure_bars=n // 2)
    assert metrics.bars == n and metrics.periods_per_year == 525_600
    assert metrics.exposure == 0.5
    payload = assert_json_clean(metrics)
    for key in ("total_return", "cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown"):
        assert isinstance(payload[key], float) and math.isfinite(payload[key])
    assert metrics.volatility == pytest.approx(0.0005 * math.sqrt(525_600), rel=0.01)
