"""Property-based tests of the incremental indicators on random series: defined after the warm-up,
within their bounds, and equal to the vectorized forms."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.indicators.helpers import as_array, assert_close, run

from tradeforge.indicators import (
    ATR,
    EMA,
    MACD,
    RSI,
    SMA,
    VWAP,
    Bollinger,
    Donchian,
    RollingVWAP,
    atr,
    bollinger,
    donchian,
    ema,
    macd,
    rolling_vwap,
    rsi,
    sma,
    vwap,
)

prices = st.floats(min_value=0.01, max_value=1e5, allow_nan=False, allow_infinity=False)
closes = st.lists(prices, max_size=150)
periods = st.integers(min_value=1, max_value=25)


@st.composite
def bar_series(draw: st.DrawFn) -> tuple[list[float], list[float], list[float], list[float]]:
    """(high, low, close, volume) with low <= close <= high and volume > 0.

    Volumes span five orders of magnitude; wider, and a rolling sum's subtraction of a huge volume
    leaves a residue that swamps a tiny one (a float running sum's nature, not a bug to test)."""
    rows = draw(
        st.lists(
            st.tuples(
                prices,
                st.floats(min_value=0.0, max_value=1e3),
                st.floats(min_value=0.0, max_value=1.0),
                st.floats(min_value=0.01, max_value=1e3),
            ),
            max_size=150,
        )
    )
    low = [row[0] for row in rows]
    high = [row[0] + row[1] for row in rows]
    close = [lo + fraction * (hi - lo) for lo, hi, (_, _, fraction, _) in zip(low, high, rows, strict=True)]
    return high, low, close, [row[3] for row in rows]


def assert_defined_after_warmup(results: list[Any], warmup: int) -> None:
    """None exactly during the warm-up, then finite numbers (every component of a tuple)."""
    for index, result in enumerate(results):
        if index < warmup - 1:
            assert result is None
        else:
            assert result is not None
            values = result if isinstance(result, tuple) else (result,)
            assert all(math.isfinite(value) for value in values)


@settings(deadline=None)
@given(closes, periods)
def test_single_input_indicators_are_defined_after_warmup(close: list[float], period: int) -> None:
    for indicator in (SMA(period), EMA(period), RSI(period), Bollinger(period, 2.0)):
        results = run(indicator, close)
        assert_defined_after_warmup(results, indicator.warmup)
        assert indicator.ready == (len(close) >= indicator.warmup)


@settings(deadline=None)
@given(closes, st.integers(1, 10), st.integers(1, 20), st.integers(1, 10))
def test_macd_is_defined_after_warmup(close: list[float], fast: int, extra: int, signal: int) -> None:
    indicator = MACD(fast, fast + extra, signal)
    assert_defined_after_warmup(run(indicator, close), indicator.warmup)


@settings(deadline=None)
@given(bar_series(), periods)
def test_bar_indicators_are_defined_after_warmup(
    bars: tuple[list[float], list[float], list[float], list[float]], period: int
) -> None:
    high, low, close, volume = bars
    assert_defined_after_warmup(run(ATR(period), high, low, close), period + 1)
    assert_defined_after_warmup(run(Donchian(period), high, low), period)
    assert_defined_after_warmup(run(VWAP(), high, low, close, volume), 1)
    assert_defined_after_warmup(run(RollingVWAP(period), high, low, close, volume), period)


@settings(deadline=None)
@given(closes, periods)
def test_rsi_stays_within_0_and_100(close: list[float], period: int) -> None:
    values = [value for value in run(RSI(period), close) if value is not None]
    assert all(0.0 <= value <= 100.0 for value in values)


@settings(deadline=None)
@given(bar_series(), periods)
def test_donchian_bounds_are_the_window_extremes(
    bars: tuple[list[float], list[float], list[float], list[float]], period: int
) -> None:
    high, low, _, _ = bars
    for index, result in enumerate(run(Donchian(period), high, low)):
        if result is None:
            continue
        window = slice(index - period + 1, index + 1)
        upper, lower = result
        assert upper == max(high[window])
        assert lower == min(low[window])
        assert all(lower <= value <= upper for value in high[window] + low[window])


@settings(deadline=None)
@given(closes, periods, st.floats(min_value=0.0, max_value=4.0))
def test_bollinger_bands_are_ordered_around_the_window_mean(
    close: list[float], period: int, k: float
) -> None:
    for index, result in enumerate(run(Bollinger(period, k), close)):
        if result is None:
            continue
        upper, middle, lower = result
        window = close[index - period + 1 : index + 1]
        assert upper >= middle >= lower
        slack = 1e-12 * max(close[: index + 1])  # rounding carried over from the largest price seen
        assert min(window) - slack <= middle <= max(window) + slack


@settings(deadline=None)
@given(bar_series(), periods)
def test_atr_is_non_negative_and_bounded_by_the_largest_true_range(
    bars: tuple[list[float], list[float], list[float], list[float]], period: int
) -> None:
    high, low, close, _ = bars
    ranges = [max(high[i], close[i - 1]) - min(low[i], close[i - 1]) for i in range(1, len(close))]
    for value in run(ATR(period), high, low, close):
        if value is not None:
            assert 0.0 <= value <= max(ranges) * (1 + 1e-12)


def price_scale(prices: list[float]) -> Any:
    """The largest price so far at each bar: a running sum keeps the rounding error of the largest
    value it ever held, which matters for random series jumping across five orders of magnitude
    (real prices do not), so errors are measured against it."""
    return np.maximum.accumulate(np.asarray(prices)) if prices else np.empty(0)


@settings(deadline=None)
@given(closes, periods)
def test_incremental_equals_vectorized_on_random_closes(close: list[float], period: int) -> None:
    scale = price_scale(close)
    assert_close_or_empty(as_array(run(SMA(period), close)), sma(close, period), scale)
    assert_close_or_empty(as_array(run(EMA(period), close)), ema(close, period), scale)
    assert_close_or_empty(as_array(run(RSI(period), close)), rsi(close, period), np.full(len(close), 100.0))
    results = run(Bollinger(period, 2.0), close)
    upper, middle, _ = bollinger(close, period, 2.0)
    assert_close_or_empty(as_array(results, 1), middle, scale)
    # The width is a square root, which turns an eps-sized error in a near-zero variance into a
    # sqrt(eps)-sized one (random series jump from 1e5 to a flat 0.01; real ones do not): compare
    # the variance, whose error the price scale bounds.
    assert_close_or_empty((as_array(results, 0) - as_array(results, 1)) ** 2, (upper - middle) ** 2, scale**2)
    results = run(MACD(period, period + 3, 4), close)
    for component, expected in enumerate(macd(close, period, period + 3, 4)):
        assert_close_or_empty(as_array(results, component), expected, scale)


@settings(deadline=None)
@given(bar_series(), periods)
def test_incremental_equals_vectorized_on_random_bars(
    bars: tuple[list[float], list[float], list[float], list[float]], period: int
) -> None:
    high, low, close, volume = bars
    scale = price_scale(high)
    assert_close_or_empty(as_array(run(ATR(period), high, low, close)), atr(high, low, close, period), scale)
    results = run(Donchian(period), high, low)
    for component, expected in enumerate(donchian(high, low, period)):
        np.testing.assert_array_equal(as_array(results, component), expected)
    assert_close_or_empty(
        as_array(run(VWAP(), high, low, close, volume)), vwap(high, low, close, volume), scale
    )
    assert_close_or_empty(
        as_array(run(RollingVWAP(period), high, low, close, volume)),
        rolling_vwap(high, low, close, volume, period),
        scale,
    )


def assert_close_or_empty(actual: Any, expected: Any, scale: Any) -> None:
    if np.isnan(expected).all():
        assert np.isnan(actual).all()
    else:
        assert_close(actual, expected, scale=scale)
