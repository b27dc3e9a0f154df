"""Volume-weighted average price, cumulative with session resets (VWAP) or over n bars (RollingVWAP)."""

# The price of a bar is its typical price (high + low + close) / 3, as in most charting packages.

from __future__ import annotations

from collections import deque
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from tradeforge.indicators.base import (
    FloatArray,
    PeriodIndicator,
    as_series,
    check_int,
    nan_array,
    rolling_sum,
)


class VWAP:
    """sum(typical * volume) / sum(volume) since the first bar, or since the start of the current
    session when `session_ms` is given: bar `ts` (epoch ms) belongs to session
    (ts - origin_ms) // session_ms, and the sums restart whenever that number changes (e.g.
    session_ms=86_400_000 resets at 00:00 UTC). The value is None while the sums hold no volume."""

    __slots__ = ("_origin", "_session", "_session_ms", "_sum_pv", "_sum_v", "_value")
    _session: int | None
    _value: float | None

    def __init__(self, session_ms: int | None = None, origin_ms: int = 0) -> None:
        self._session_ms = None if session_ms is None else check_int("session_ms", session_ms)
        self._origin = check_int("origin_ms", origin_ms, minimum=-(2**62))
        self.reset()

    def update(self, high: float, low: float, close: float, volume: float, ts: int = 0) -> float | None:
        if self._session_ms is not None:
            session = (ts - self._origin) // self._session_ms
            if session != self._session:
                self._session = session
                self._sum_pv = 0.0
                self._sum_v = 0.0
        self._sum_pv += (high + low + close) / 3.0 * volume
        self._sum_v += volume
        result = self._value = self._sum_pv / self._sum_v if self._sum_v > 0.0 else None
        return result

    @property
    def value(self) -> float | None:
        return self._value

    @property
    def ready(self) -> bool:
        return self._value is not None

    @property
    def warmup(self) -> int:
        return 1

    def reset(self) -> None:
        self._session = None
        self._sum_pv = 0.0
        self._sum_v = 0.0
        self._value = None


class RollingVWAP(PeriodIndicator[float]):
    """sum(typical * volume) / sum(volume) over the last `period` bars; None during the warm-up and
    while the window holds no volume at all (counted exactly, not read off a float running sum)."""

    __slots__ = ("_sum_pv", "_sum_v", "_traded", "_window")

    def __init__(self, period: int = 20) -> None:
        self._period = check_int("period", period)
        self._window: deque[tuple[float, float]] = deque(maxlen=self._period)
        self._sum_pv = 0.0
        self._sum_v = 0.0
        self._traded = 0  # bars in the window with volume > 0
        self._value: float | None = None

    def update(self, high: float, low: float, close: float, volume: float) -> float | None:
        pv = (high + low + close) / 3.0 * volume
        window = self._window
        if len(window) == self._period:
            old_pv, old_v = window[0]
            self._sum_pv += pv - old_pv
            self._sum_v += volume - old_v
            self._traded += (volume > 0.0) - (old_v > 0.0)
            window.append((pv, volume))
        else:
            window.append((pv, volume))
            self._sum_pv += pv
            self._sum_v += volume
            self._traded += volume > 0.0
            if len(window) < self._period:
                return None
        if self._traded == 0:
            self._sum_pv = self._sum_v = 0.0  # an empty window also clears any rounding residue
            self._value = None
            return None
        result = self._value = self._sum_pv / self._sum_v
        return result

    def reset(self) -> None:
        self._window.clear()
        self._sum_pv = 0.0
        self._sum_v = 0.0
        self._traded = 0
        self._value = None


def _price_volume(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, volume: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    h, lo, c, v = as_series(high, low, close, volume)
    if np.any(v < 0.0):
        raise ValueError("volume must not be negative")
    return (h + lo + c) / 3.0 * v, v


def vwap(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    *,
    timestamps: npt.ArrayLike | None = None,
    session_ms: int | None = None,
    origin_ms: int = 0,
) -> FloatArray:
    """Cumulative VWAP as VWAP computes it (NaN while no volume); with session_ms, `timestamps`
    (epoch ms) are required and the sums restart at each new session.

    Each session is summed on its own (one cumsum per session) rather than as differences of one
    year-long cumsum, whose size would cost the first bars of a session most of their precision."""
    pv, v = _price_volume(high, low, close, volume)
    if session_ms is None:
        starts = np.array([0], dtype=np.int64)
    else:
        period = check_int("session_ms", session_ms)
        origin = check_int("origin_ms", origin_ms, minimum=-(2**62))
        if timestamps is None:
            raise ValueError("session_ms needs timestamps")
        ts = np.asarray(timestamps, dtype=np.int64)
        if ts.shape != v.shape:
            raise ValueError(f"timestamps have shape {ts.shape}, prices {v.shape}")
        session = (ts - origin) // period
        starts = np.concatenate(([0], np.flatnonzero(session[1:] != session[:-1]) + 1))
    out = nan_array(len(v))
    bounds = [*starts.tolist(), len(v)]
    for begin, end in pairwise(bounds):
        sum_v = np.cumsum(v[begin:end])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[begin:end] = np.where(sum_v > 0.0, np.cumsum(pv[begin:end]) / sum_v, np.nan)
    return out


def rolling_vwap(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, volume: npt.ArrayLike, period: int = 20
) -> FloatArray:
    """VWAP over the last `period` bars as RollingVWAP computes it; NaN for the first period - 1
    entries and wherever the window holds no volume."""
    pv, v = _price_volume(high, low, close, volume)
    n = check_int("period", period)
    out = nan_array(len(v))
    if len(v) < n:
        return out
    traded = np.cumsum(v > 0.0)
    traded_in_window: npt.NDArray[np.intp] = traded[n - 1 :] - np.concatenate(([0], traded[:-n]))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = rolling_sum(pv, n) / rolling_sum(v, n)
    out[n - 1 :] = np.where(traded_in_window > 0, ratio, np.nan)
    return out
