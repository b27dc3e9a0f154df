"""Agreement with TA-Lib (the `ta-lib` package, a dev dependency) on real bars, warm-up included:
every indicator here starts its values at the same bar as its TA-Lib counterpart."""

from __future__ import annotations

import numpy as np
import pytest
import talib
from tests.unit.indicators.helpers import assert_close, sample_bars

from tradeforge.indicators import atr, bollinger, donchian, ema, macd, rsi, sma


@pytest.mark.parametrize("period", [1, 10, 200])
def test_sma_matches(period: int) -> None:
    close = sample_bars().close
    assert_close(sma(close, period), talib.SMA(close, timeperiod=period))


@pytest.mark.parametrize("period", [2, 12, 100])
def test_ema_matches(period: int) -> None:
    close = sample_bars().close
    assert_close(ema(close, period), talib.EMA(close, timeperiod=period))


@pytest.mark.parametrize("period", [2, 14, 50])
def test_rsi_matches(period: int) -> None:
    close = sample_bars().close
    assert_close(rsi(close, period), talib.RSI(close, timeperiod=period))


@pytest.mark.parametrize("period", [1, 14, 50])
def test_atr_matches(period: int) -> None:
    bars = sample_bars()
    expected = talib.ATR(bars.high, bars.low, bars.close, timeperiod=period)
    assert_close(atr(bars.high, bars.low, bars.close, period), expected)


@pytest.mark.parametrize(("period", "k"), [(20, 2.0), (50, 2.5), (5, 1.0)])
def test_bollinger_matches(period: int, k: float) -> None:
    close = sample_bars().close
    sma_type = talib.MA_Type.SMA  # type: ignore[attr-defined]  # re-exported, untyped in its stub
    expected = talib.BBANDS(close, timeperiod=period, nbdevup=k, nbdevdn=k, matype=sma_type)
    for ours, theirs in zip(bollinger(close, period, k), expected, strict=True):
        assert_close(ours, theirs)


@pytest.mark.parametrize("periods", [(12, 26, 9), (5, 35, 5), (3, 10, 1)])
def test_macd_matches(periods: tuple[int, int, int]) -> None:
    close = sample_bars().close
    fast, slow, signal = periods
    expected = talib.MACD(close, fastperiod=fast, slowperiod=slow, signalperiod=signal)
    for ours, theirs in zip(macd(close, fast, slow, signal), expected, strict=True):
        # Differences of two price-sized EMAs: measured against the price, not their own size.
        assert_close(ours, theirs, scale=close)


@pytest.mark.parametrize("period", [2, 20, 300])  # TA-Lib refuses period 1 here
def test_donchian_matches_max_min(period: int) -> None:
    bars = sample_bars()
    upper, lower = donchian(bars.high, bars.low, period)
    np.testing.assert_array_equal(upper, talib.MAX(bars.high, timeperiod=period))
    np.testing.assert_array_equal(lower, talib.MIN(bars.low, timeperiod=period))
