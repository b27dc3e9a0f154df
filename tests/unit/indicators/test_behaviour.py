"""Warm-up, reset, degenerate inputs, parameter validation and VWAP against a plain reference."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from tests.unit.indicators.helpers import as_array, run, sample_bars

from tradeforge.indicators import (
    ATR,
    EMA,
    MACD,
    RSI,
    SMA,
    VWAP,
    Bollinger,
    Donchian,
    ExactSMA,
    ExactSMACross,
    Indicator,
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

# (incremental, its inputs, the vectorized form of the same) for every indicator.
CLOSE = ("close",)
HLC = ("high", "low", "close")
HLCV = ("high", "low", "close", "volume")
CASES: list[tuple[Callable[[], Any], tuple[str, ...], Callable[..., Any] | None]] = [
    (lambda: SMA(7), CLOSE, lambda c: sma(c, 7)),
    (lambda: EMA(7), CLOSE, lambda c: ema(c, 7)),
    (lambda: RSI(7), CLOSE, lambda c: rsi(c, 7)),
    (lambda: Bollinger(7, 2.0), CLOSE, lambda c: bollinger(c, 7, 2.0)[0]),
    (lambda: MACD(3, 8, 4), CLOSE, lambda c: macd(c, 3, 8, 4)[0]),
    (lambda: ATR(7), HLC, lambda h, lo, c: atr(h, lo, c, 7)),
    (lambda: Donchian(7), ("high", "low"), lambda h, lo: donchian(h, lo, 7)[0]),
    (lambda: VWAP(), HLCV, vwap),
    (lambda: RollingVWAP(7), HLCV, lambda h, lo, c, v: rolling_vwap(h, lo, c, v, 7)),
    (lambda: ExactSMA(7, 2), CLOSE, None),
]
IDS = [
    "sma",
    "ema",
    "rsi",
    "bollinger",
    "macd",
    "atr",
    "donchian",
    "vwap",
    "rolling_vwap",
    "exact_sma",
]


def columns(names: tuple[str, ...], rows: int = 40) -> list[Any]:
    bars = sample_bars()
    return [getattr(bars, name)[:rows] for name in names]


@pytest.mark.parametrize(("make", "inputs", "vectorized"), CASES, ids=IDS)
def test_warmup_says_when_the_first_value_comes(
    make: Callable[[], Any], inputs: tuple[str, ...], vectorized: Callable[..., Any] | None
) -> None:
    indicator = make()
    protocol: Indicator = indicator  # every incremental indicator offers ready / warmup / reset
    assert protocol.warmup >= 1
    data = columns(inputs)
    for index, row in enumerate(zip(*(column.tolist() for column in data), strict=True)):
        result = indicator.update(*row)
        assert (result is not None) == (index >= indicator.warmup - 1)
        assert indicator.ready == (result is not None)
    if vectorized is not None:
        assert int(np.isnan(vectorized(*data)).sum()) == indicator.warmup - 1


@pytest.mark.parametrize(("make", "inputs", "vectorized"), CASES, ids=IDS)
def test_reset_starts_over(
    make: Callable[[], Any], inputs: tuple[str, ...], vectorized: Callable[..., Any] | None
) -> None:
    data = columns(inputs)
    fresh = run(make(), *data)
    reused = make()
    run(reused, *columns(inputs, rows=25))
    reused.reset()
    assert not reused.ready
    assert reused.value is None
    assert run(reused, *data) == fresh


def test_exact_cross_resets() -> None:
    close = sample_bars().close[:300]
    cross = ExactSMACross(5, 20, 2)
    first = run(cross, close)
    cross.reset()
    assert (cross.state, cross.ready) == (0, False)
    assert run(cross, close) == first


def test_small_hand_computed_values() -> None:
    assert run(SMA(3), [1.0, 2.0, 3.0, 4.0]) == [None, None, 2.0, 3.0]
    # EMA(3): alpha 0.5, seeded with the mean of the first three.
    assert run(EMA(3), [1.0, 2.0, 3.0, 5.0]) == [None, None, 2.0, 3.5]
    np.testing.assert_array_equal(ema([1.0, 2.0, 3.0, 5.0], 3), [np.nan, np.nan, 2.0, 3.5])
    # ATR(2): true ranges 3 (gap up: 13 - prev 10), 2.5 (prev 12.5 - 10), 4; 2.75, then (2.75 + 4) / 2.
    highs, lows, closes = [11.0, 13.0, 12.0, 15.0], [9.0, 12.0, 10.0, 11.0], [10.0, 12.5, 11.0, 14.0]
    assert run(ATR(2), highs, lows, closes) == [None, None, 2.75, 3.375]
    # Donchian includes the current bar.
    assert run(Donchian(2), [5.0, 7.0, 6.0], [1.0, 3.0, 2.0]) == [None, (7.0, 1.0), (7.0, 2.0)]


def test_rsi_extremes_and_a_flat_market() -> None:
    assert run(RSI(3), [1.0, 2.0, 3.0, 4.0, 5.0])[3:] == [100.0, 100.0]
    assert run(RSI(3), [5.0, 4.0, 3.0, 2.0, 1.0])[3:] == [0.0, 0.0]
    # No movement at all is neutral (TA-Lib answers 0 here).
    assert run(RSI(3), [2.0] * 5)[3:] == [50.0, 50.0]
    np.testing.assert_array_equal(rsi([2.0] * 5, 3), [np.nan] * 3 + [50.0, 50.0])


def test_a_flat_window_after_a_volatile_one_has_zero_width_bands() -> None:
    upper, middle, lower = run(Bollinger(3, 2.0), [1.0, 5.0, 0.1, 0.1, 0.1])[4]
    assert upper == middle == lower
    assert middle == pytest.approx(0.1, rel=1e-14)
    assert [band[4] for band in bollinger([1.0, 5.0, 0.1, 0.1, 0.1], 3, 2.0)] == pytest.approx([0.1] * 3)


def test_inputs_shorter_than_the_warmup_give_all_nan() -> None:
    assert np.isnan(sma([1.0, 2.0], 5)).all()
    assert np.isnan(rsi([1.0, 2.0, 3.0], 3)).all()
    assert all(np.isnan(line).all() for line in macd(np.arange(20.0), 12, 26, 9))
    assert all(np.isnan(band).all() for band in bollinger([1.0], 2))
    assert len(sma([], 3)) == 0


def test_vwap_matches_a_plain_reference_with_daily_sessions() -> None:
    bars = sample_bars()
    typical = (bars.high + bars.low + bars.close) / 3.0
    expected = []
    start = 0
    for index, ts in enumerate(bars.ts.tolist()):
        if ts // DAY_MS != bars.ts[start] // DAY_MS:
            start = index
        window = slice(start, index + 1)
        expected.append(
            math.fsum((typical[window] * bars.volume[window]).tolist())
            / math.fsum(bars.volume[window].tolist())
        )
    ours = vwap(bars.high, bars.low, bars.close, bars.volume, timestamps=bars.ts, session_ms=DAY_MS)
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    # Each session restarts at its first bar's typical price.
    firsts = np.flatnonzero(np.diff(bars.ts // DAY_MS)) + 1
    assert len(firsts) == 6
    np.testing.assert_allclose(ours[firsts], typical[firsts], rtol=1e-15)


def test_rolling_vwap_matches_a_plain_reference() -> None:
    bars = sample_bars()
    typical = ((bars.high + bars.low + bars.close) / 3.0).tolist()
    volume = bars.volume.tolist()
    period = 30
    expected = [math.nan] * (period - 1)
    for end in range(period, len(volume) + 1):
        window = range(end - period, end)
        expected.append(
            math.fsum(typical[i] * volume[i] for i in window) / math.fsum(volume[i] for i in window)
        )
    results = as_array(run(RollingVWAP(period), bars.high, bars.low, bars.close, bars.volume))
    np.testing.assert_allclose(results, expected, rtol=1e-12)


def test_vwap_is_undefined_while_there_is_no_volume() -> None:
    high, low, close = [3.0] * 6, [1.0] * 6, [2.0] * 6
    volume = [0.0, 1.0, 0.0, 0.0, 0.0, 2.0]
    assert run(VWAP(), high, low, close, volume) == [None, 2.0, 2.0, 2.0, 2.0, 2.0]
    # A session with no volume yet has no VWAP either.
    timestamps = [0, 5, 10, 15, 20, 25]  # sessions of 10 ms: two bars each
    expected = [None, 2.0, None, None, None, 2.0]
    assert run(VWAP(session_ms=10), high, low, close, volume, timestamps) == expected
    assert run(RollingVWAP(2), high, low, close, volume) == [None, 2.0, 2.0, None, None, 2.0]
    np.testing.assert_array_equal(
        rolling_vwap(high, low, close, volume, 2), [np.nan, 2.0, 2.0, np.nan, np.nan, 2.0]
    )
    np.testing.assert_array_equal(vwap(high, low, close, volume), [np.nan, 2.0, 2.0, 2.0, 2.0, 2.0])


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: SMA(0), ValueError),
        (lambda: SMA(True), TypeError),
        (lambda: EMA(2.5), TypeError),  # type: ignore[arg-type]
        (lambda: RSI("14"), TypeError),  # type: ignore[arg-type]
        (lambda: Bollinger(20, -1.0), ValueError),
        (lambda: Bollinger(20, float("inf")), ValueError),
        (lambda: MACD(26, 12, 9), ValueError),
        (lambda: MACD(12, 26, 0), ValueError),
        (lambda: VWAP(session_ms=0), ValueError),
        (lambda: RollingVWAP(-3), ValueError),
        (lambda: sma([[1.0, 2.0]], 1), ValueError),
        (lambda: atr([1.0, 2.0], [1.0], [1.0, 2.0], 1), ValueError),
        (lambda: donchian([1.0], [1.0], 0), ValueError),
        (lambda: vwap([1.0], [1.0], [1.0], [1.0], session_ms=DAY_MS), ValueError),
        (lambda: vwap([1.0], [1.0], [1.0], [-1.0]), ValueError),
        (lambda: macd([1.0], 5, 5, 2), ValueError),
    ],
)
def test_bad_parameters_are_refused_up_front(build: Callable[[], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        build()


def test_numpy_integers_are_accepted_as_periods() -> None:
    assert SMA(np.int64(3)).period == 3  # type: ignore[arg-type]
    assert sma([1.0, 2.0, 3.0], np.int64(3))[-1] == 2.0  # type: ignore[arg-type]
