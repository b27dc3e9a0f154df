"""Simple and exponential moving averages, incremental (SMA, EMA) and vectorized (sma, ema)."""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from tradeforge.indicators.base import (
    FloatArray,
    PeriodIndicator,
    as_series,
    check_int,
    nan_array,
    rolling_sum,
    smooth,
)


class SMA(PeriodIndicator[float]):
    """Arithmetic mean of the last `period` values; a running sum over a ring buffer, O(1)."""

    __slots__ = ("_sum", "_window")

    def __init__(self, period: int) -> None:
        self._period = check_int("period", period)
        self._window: deque[float] = deque(maxlen=self._period)
        self._sum = 0.0
        self._value: float | None = None

    def update(self, value: float) -> float | None:
        window = self._window
        if len(window) == self._period:
            self._sum += value - window[0]
            window.append(value)  # maxlen drops window[0]
            result = self._value = self._sum / self._period
            return result
        window.append(value)
        self._sum += value
        if len(window) == self._period:
            result = self._value = self._sum / self._period
            return result
        return None

    def reset(self) -> None:
        self._window.clear()
        self._sum = 0.0
        self._value = None


class EMA(PeriodIndicator[float]):
    """Exponential moving average, alpha = 2 / (period + 1), seeded with the SMA of the first
    `period` values (TA-Lib's default), so the first value comes with the period-th update."""

    __slots__ = ("_alpha", "_count", "_sum")

    def __init__(self, period: int) -> None:
        self._period = check_int("period", period)
        self._alpha = 2.0 / (self._period + 1)
        self._count = 0
        self._sum = 0.0
        self._value: float | None = None

    def update(self, value: float) -> float | None:
        current = self._value
        if current is not None:
            current += self._alpha * (value - current)
            self._value = current
            return current
        self._count += 1
        self._sum += value
        if self._count == self._period:
            current = self._value = self._sum / self._period
            return current
        return None

    @property
    def alpha(self) -> float:
        return self._alpha

    def reset(self) -> None:
        self._count = 0
        self._sum = 0.0
        self._value = None


def sma(close: npt.ArrayLike, period: int) -> FloatArray:
    """Simple moving average; NaN for the first period - 1 entries."""
    (x,) = as_series(close)
    n = check_int("period", period)
    out = nan_array(len(x))
    if len(x) >= n:
        out[n - 1 :] = rolling_sum(x, n) / n
    return out


def ema(close: npt.ArrayLike, period: int) -> FloatArray:
    """Exponential moving average seeded like EMA; NaN for the first period - 1 entries."""
    (x,) = as_series(close)
    n = check_int("period", period)
    out = nan_array(len(x))
    if len(x) >= n:
        out[n - 1 :] = seeded_ema(x, n, n - 1)
    return out


def seeded_ema(x: FloatArray, period: int, start: int) -> FloatArray:
    """The EMA of x from index `start` on (len(x) - start values), its seed at `start` being the SMA
    of the `period` values ending there. MACD seeds its fast EMA late this way, as TA-Lib does."""
    seed = float(np.sum(x[start - period + 1 : start + 1])) / period
    tail = smooth(x[start + 1 :], 2.0 / (period + 1), seed)
    return np.concatenate(([seed], tail))
