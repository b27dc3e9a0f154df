"""Donchian channel (highest high, lowest low over n bars), incremental (Donchian) and vectorized."""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from tradeforge.indicators.base import FloatArray, PeriodIndicator, as_series, check_int, nan_array


class Donchian(PeriodIndicator[tuple[float, float]]):
    """Highest high and lowest low of the last `period` bars, the current one included (TA-Lib's
    MAX/MIN). A breakout test against the channel of the bars before compares with the previous value.

    Monotonic deques keep each extreme in O(1) amortized time: a price that can never again be the
    extreme (an older one beaten by a newer) is dropped at once, so the front is the extreme, and
    it leaves when its bar number falls out of the window. Prices and bar numbers sit in parallel
    deques, which spares a tuple per bar."""

    __slots__ = ("_count", "_high_bars", "_highs", "_low_bars", "_lows")

    def __init__(self, period: int = 20) -> None:
        self._period = check_int("period", period)
        self._highs: deque[float] = deque()
        self._high_bars: deque[int] = deque()
        self._lows: deque[float] = deque()
        self._low_bars: deque[int] = deque()
        self._count = 0
        self._value: tuple[float, float] | None = None

    def update(self, high: float, low: float) -> tuple[float, float] | None:
        count = self._count
        self._count = count + 1
        expired = count - self._period
        highs = self._highs
        high_bars = self._high_bars
        while highs and highs[-1] <= high:
            highs.pop()
            high_bars.pop()
        highs.append(high)
        high_bars.append(count)
        if high_bars[0] <= expired:
            highs.popleft()
            high_bars.popleft()
        lows = self._lows
        low_bars = self._low_bars
        while lows and lows[-1] >= low:
            lows.pop()
            low_bars.pop()
        lows.append(low)
        low_bars.append(count)
        if low_bars[0] <= expired:
            lows.popleft()
            low_bars.popleft()
        if expired < -1:
            return None
        result = self._value = (highs[0], lows[0])
        return result

    @property
    def value(self) -> tuple[float, float] | None:
        """(upper, lower), or None during the warm-up."""
        return self._value

    @property
    def upper(self) -> float | None:
        return None if self._value is None else self._value[0]

    @property
    def lower(self) -> float | None:
        return None if self._value is None else self._value[1]

    def reset(self) -> None:
        self._highs.clear()
        self._high_bars.clear()
        self._lows.clear()
        self._low_bars.clear()
        self._count = 0
        self._value = None


def donchian(high: npt.ArrayLike, low: npt.ArrayLike, period: int = 20) -> tuple[FloatArray, FloatArray]:
    """(upper, lower) as Donchian computes them; NaN for the first period - 1 entries.

    scipy's running max/min filters are O(n) whatever the period; the origin shifts their window
    from centred to trailing (ending at the current bar)."""
    h, lo = as_series(high, low)
    n = check_int("period", period)
    upper, lower = nan_array(len(h)), nan_array(len(h))
    if len(h) >= n:
        from scipy.ndimage import maximum_filter1d, minimum_filter1d  # lazily: see base.smooth

        origin = (n - 1) // 2  # the largest shift scipy allows: the window ends at the bar
        upper[n - 1 :] = np.asarray(maximum_filter1d(h, n, origin=origin))[n - 1 :]
        lower[n - 1 :] = np.asarray(minimum_filter1d(lo, n, origin=origin))[n - 1 :]
    return upper, lower
