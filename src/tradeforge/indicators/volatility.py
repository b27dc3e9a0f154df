"""Volatility: Wilder's ATR and Bollinger bands, incremental (ATR, Bollinger) and vectorized."""

from __future__ import annotations

from collections import deque
from math import fsum, sqrt

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from tradeforge.indicators.base import (
    FloatArray,
    PeriodIndicator,
    as_series,
    check_float,
    check_int,
    nan_array,
    smooth,
)
from tradeforge.indicators.moving_average import sma

_CHUNK_VALUES = 4_000_000  # bounds the temporary copy made by the windowed variance
_REFRESH_MIN = 64


class ATR(PeriodIndicator[float]):
    """Wilder's average true range. True range needs the previous close, so the first bar only
    supplies one; the first ATR is the mean of the next `period` true ranges and then
    atr = (atr * (period - 1) + tr) / period, exactly as TA-Lib does."""

    __slots__ = ("_count", "_previous_close", "_sum")

    def __init__(self, period: int = 14) -> None:
        self._period = check_int("period", period)
        self._previous_close: float | None = None
        self._count = 0
        self._sum = 0.0
        self._value: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        previous = self._previous_close
        self._previous_close = close
        if previous is None:
            return None
        # max(high, prev) - min(low, prev) is the largest of the three classic ranges, bit for bit.
        true_range = (high if high > previous else previous) - (low if low < previous else previous)
        current = self._value
        if current is not None:
            current = (current * (self._period - 1) + true_range) / self._period
            self._value = current
            return current
        self._count += 1
        self._sum += true_range
        if self._count == self._period:
            current = self._value = self._sum / self._period
            return current
        return None

    @property
    def warmup(self) -> int:
        return self._period + 1

    def reset(self) -> None:
        self._previous_close = None
        self._count = 0
        self._sum = 0.0
        self._value = None


class Bollinger(PeriodIndicator[tuple[float, float, float]]):
    """Bollinger bands: SMA(period) ± k * population standard deviation over the same window.

    The variance is kept with a sliding Welford update, M2 += (x - old)(x - mean' + old - mean),
    rather than sum(x^2) - n * mean^2, which at prices near 1e5 loses most of its digits. Both run
    on deviations from an anchor (the window mean at the last refresh), so rounding errors scale
    with the deviations rather than the price level: a flat window after a volatile one would
    otherwise show a spurious width (the square root magnifies a tiny M2 error). Every
    max(period, 64) bars the anchor, sum and M2 are recomputed exactly from the window (amortized
    O(1)), which also keeps the running sums from drifting."""

    __slots__ = ("_anchor", "_countdown", "_k", "_m2", "_refresh", "_shift", "_sum", "_window")
    _anchor: float
    _countdown: int
    _m2: float
    _shift: float
    _sum: float

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        self._period = check_int("period", period)
        self._k = check_float("k", k, minimum=0.0)
        self._refresh = max(self._period, _REFRESH_MIN)
        self._window: deque[float] = deque(maxlen=self._period)
        self._value: tuple[float, float, float] | None = None
        self.reset()

    def update(self, value: float) -> tuple[float, float, float] | None:
        window = self._window
        n = self._period
        if len(window) == n and self._countdown:
            self._countdown -= 1
            anchor = self._anchor
            old = window[0] - anchor
            window.append(value)
            new = value - anchor
            step = new - old
            total = self._sum = self._sum + step
            shift = total / n  # mean - anchor
            m2 = self._m2 + step * (new - shift + old - self._shift)
            self._m2 = m2 = m2 if m2 > 0.0 else 0.0
            self._shift = shift
            mean = anchor + shift
        else:
            window.append(value)
            if len(window) < n:
                return None
            self._countdown = self._refresh
            mean = self._anchor = fsum(window) / n
            deviations = [x - mean for x in window]
            total = self._sum = fsum(deviations)
            self._shift = total / n
            m2 = self._m2 = fsum([d * d for d in deviations])
        width = self._k * sqrt(m2 / n)
        result = self._value = (mean + width, mean, mean - width)
        return result

    @property
    def value(self) -> tuple[float, float, float] | None:
        """(upper, middle, lower), or None during the warm-up."""
        return self._value

    @property
    def k(self) -> float:
        return self._k

    def reset(self) -> None:
        self._window.clear()
        self._countdown = 0
        self._anchor = 0.0
        self._sum = 0.0
        self._shift = 0.0
        self._m2 = 0.0
        self._value = None


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Wilder's ATR as ATR computes it; NaN for the first `period` entries."""
    h, lo, c = as_series(high, low, close)
    n = check_int("period", period)
    out = nan_array(len(c))
    if len(c) <= n:
        return out
    true_range = np.maximum(h[1:], c[:-1]) - np.minimum(lo[1:], c[:-1])
    seed = float(true_range[:n].sum()) / n
    out[n] = seed
    out[n + 1 :] = smooth(true_range[n:], 1.0 / n, seed)
    return out


def rolling_std(x: FloatArray, period: int) -> FloatArray:
    """Population standard deviation of each full window (len(x) - period + 1 values), two-pass
    per window (mean first, then squared deviations), in chunks to bound memory."""
    windows = sliding_window_view(x, period)
    out = np.empty(len(windows), dtype=np.float64)
    rows = max(1, _CHUNK_VALUES // period)
    for start in range(0, len(windows), rows):
        out[start : start + rows] = np.std(windows[start : start + rows], axis=1)
    return out


def bollinger(
    close: npt.ArrayLike, period: int = 20, k: float = 2.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(upper, middle, lower) as Bollinger computes them; NaN for the first period - 1 entries."""
    (x,) = as_series(close)
    n = check_int("period", period)
    width_factor = check_float("k", k, minimum=0.0)
    middle = sma(x, n)
    upper, lower = nan_array(len(x)), nan_array(len(x))
    if len(x) >= n:
        width = width_factor * rolling_std(x, n)
        upper[n - 1 :] = middle[n - 1 :] + width
        lower[n - 1 :] = middle[n - 1 :] - width
    return upper, middle, lower
