"""Incremental and vectorized forms give the same numbers on real BTCUSDT 1-minute bars."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.indicators.helpers import as_array, assert_close, run, sample_bars

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

DAY_MS = 86_400_000


@pytest.mark.parametrize("period", [10, 50])
def test_sma(period: int) -> None:
    bars = sample_bars()
    incremental = as_array(run(SMA(period), bars.close))
    assert_close(incremental, sma(bars.close, period))
    assert np.isnan(incremental).sum() == period - 1


@pytest.mark.parametrize("period", [9, 100])
def test_ema(period: int) -> None:
    bars = sample_bars()
    assert_close(as_array(run(EMA(period), bars.close)), ema(bars.close, period))


@pytest.mark.parametrize("period", [14, 6])
def test_rsi(period: int) -> None:
    bars = sample_bars()
    assert_close(as_array(run(RSI(period), bars.close)), rsi(bars.close, period))


@pytest.mark.parametrize("period", [14, 30])
def test_atr(period: int) -> None:
    bars = sample_bars()
    incremental = as_array(run(ATR(period), bars.high, bars.low, bars.close))
    assert_close(incremental, atr(bars.high, bars.low, bars.close, period))


@pytest.mark.parametrize(("period", "k"), [(20, 2.0), (50, 1.5), (5, 3.0)])
def test_bollinger(period: int, k: float) -> None:
    bars = sample_bars()
    results = run(Bollinger(period, k), bars.close)
    for component, expected in enumerate(bollinger(bars.close, period, k)):
        assert_close(as_array(results, component), expected)


@pytest.mark.parametrize("periods", [(12, 26, 9), (5, 35, 5)])
def test_macd(periods: tuple[int, int, int]) -> None:
    bars = sample_bars()
    results = run(MACD(*periods), bars.close)
    for component, expected in enumerate(macd(bars.close, *periods)):
        assert_close(as_array(results, component), expected, scale=bars.close)


@pytest.mark.parametrize("period", [20, 55])
def test_donchian(period: int) -> None:
    bars = sample_bars()
    results = run(Donchian(period), bars.high, bars.low)
    upper, lower = donchian(bars.high, bars.low, period)
    # Maxima and minima are selections, not arithmetic: exact equality.
    np.testing.assert_array_equal(as_array(results, 0), upper)
    np.testing.assert_array_equal(as_array(results, 1), lower)


def test_vwap_cumulative() -> None:
    bars = sample_bars()
    results = run(VWAP(), bars.high, bars.low, bars.close, bars.volume)
    assert_close(as_array(results), vwap(bars.high, bars.low, bars.close, bars.volume))


@pytest.mark.parametrize(("session_ms", "origin_ms"), [(DAY_MS, 0), (4 * 3_600_000, 30 * 60_000)])
def test_vwap_sessions(session_ms: int, origin_ms: int) -> None:
    bars = sample_bars()
    indicator = VWAP(session_ms=session_ms, origin_ms=origin_ms)
    results = run(indicator, bars.high, bars.low, bars.close, bars.volume, bars.ts)
    expected = vwap(
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        timestamps=bars.ts,
        session_ms=session_ms,
        origin_ms=origin_ms,
    )
    assert_close(as_array(results), expected)


@pytest.mark.parametrize("period", [20, 240])
def test_rolling_vwap(period: int) -> None:
    bars = sample_bars()
    results = run(RollingVWAP(period), bars.high, bars.low, bars.close, bars.volume)
    assert_close(as_array(results), rolling_vwap(bars.high, bars.low, bars.close, bars.volume, period))
