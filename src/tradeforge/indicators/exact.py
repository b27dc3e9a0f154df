"""Exact SMAs and SMA crossovers on integer ticks, so that ties (fast == slow) are decided exactly."""

# Float SMAs of equal true value can differ in their last bit depending on summation order, and a
# crossover read off them then depends on the implementation: a backtest would disagree with its
# peers trade for trade. Here prices become integer ticks (price * 10**decimals, rounded), window
# sums are integers, and fast vs slow is compared as sum_fast * slow vs sum_slow * fast: no rounding.
#
# Tie rule (the same in ExactSMACross and exact_sma_cross): the state is the sign of the last strictly
# non-zero fast - slow; a bar where fast == slow leaves it unchanged. A cross is a bar where the state
# flips from -1 to +1 (returned as +1, fast crossing above slow) or from +1 to -1 (returned as -1);
# touching (+1, 0, +1) is no cross, passing through a tie (-1, 0, +1) is one cross, on the +1 bar.
# The first state after the warm-up is not a cross: there is nothing it crossed from.

from __future__ import annotations

from collections import deque
from decimal import Decimal
from math import gcd

import numpy as np
import numpy.typing as npt

from tradeforge.indicators.base import FloatArray, as_series, check_int, nan_array

MAX_TICKS = 2**43  # |price| * 10**decimals below this converts from float64 with error < 0.01 tick
_OFF_GRID = 0.01  # more than this far from an integer tick: the price has more decimals than declared
IntArray = npt.NDArray[np.int64]


def to_ticks(prices: npt.ArrayLike, decimals: int) -> IntArray:
    """Prices as int64 counts of 10**-decimals. Raises ValueError for prices off that grid (more
    decimals than declared), non-finite ones or ones too large to convert exactly."""
    (x,) = as_series(prices)
    scaled = x * float(10 ** check_int("decimals", decimals, minimum=0))
    if len(scaled) == 0:
        return np.empty(0, dtype=np.int64)
    if not np.all(np.isfinite(scaled)) or float(np.max(np.abs(scaled))) >= MAX_TICKS:
        raise ValueError(f"prices must be finite with |price| * 10**{decimals} < 2**43")
    ticks = np.rint(scaled)
    worst = float(np.max(np.abs(scaled - ticks)))
    if worst > _OFF_GRID:
        raise ValueError(f"prices have more than {decimals} decimals (off the grid by {worst:.3f} ticks)")
    return ticks.astype(np.int64)


class ExactSMA:
    """SMA over integer ticks: `update(price)` rounds price * 10**decimals to an int (exact for a
    Decimal, exact for a float on the grid and below MAX_TICKS; unchecked, to keep updates cheap),
    `sum_ticks` is the exact window sum and `value` its correctly rounded float mean."""

    __slots__ = ("_decimals", "_denominator", "_period", "_scale", "_sum", "_window")

    def __init__(self, period: int, decimals: int) -> None:
        self._period = check_int("period", period)
        self._decimals = check_int("decimals", decimals, minimum=0)
        self._scale: int = 10**self._decimals
        self._denominator: int = self._period * self._scale
        self._window: deque[int] = deque(maxlen=self._period)
        self._sum: int = 0

    def update(self, price: float | Decimal) -> float | None:
        return self.update_ticks(round(price * self._scale))

    def update_ticks(self, ticks: int) -> float | None:
        window = self._window
        if len(window) == self._period:
            self._sum += ticks - window[0]
            window.append(ticks)
            return self._sum / self._denominator
        window.append(ticks)
        self._sum += ticks
        if len(window) == self._period:
            return self._sum / self._denominator
        return None

    @property
    def sum_ticks(self) -> int | None:
        return self._sum if len(self._window) == self._period else None

    @property
    def value(self) -> float | None:
        return self._sum / self._denominator if len(self._window) == self._period else None

    @property
    def ready(self) -> bool:
        return len(self._window) == self._period

    @property
    def period(self) -> int:
        return self._period

    @property
    def decimals(self) -> int:
        return self._decimals

    @property
    def warmup(self) -> int:
        return self._period

    def compare(self, other: ExactSMA) -> int:
        """The exact sign of self - other (-1, 0 or 1); both must be ready, with equal decimals."""
        if self._decimals != other._decimals:
            raise ValueError("cannot compare SMAs of different decimals")
        if not (self.ready and other.ready):
            raise ValueError("both SMAs must be ready")
        difference = self._sum * other._period - other._sum * self._period
        return (difference > 0) - (difference < 0)

    def reset(self) -> None:
        self._window.clear()
        self._sum = 0


def round_half_even_int(value: float) -> int:
    """round(value) for a finite float, in operations mypyc compiles natively (int() truncates
    toward zero; the remainder decides, ties to the even neighbour)."""
    whole = int(value)
    rest = value - whole
    if rest > 0.5 or (rest == 0.5 and whole % 2 == 1):
        return whole + 1
    if rest < -0.5 or (rest == -0.5 and whole % 2 == 1):
        return whole - 1
    return whole


class ExactSMACross:
    """Fast/slow SMA crossover on integer ticks; `update(price)` returns +1 on the bar the fast SMA
    crosses above the slow one, -1 when it crosses below, 0 otherwise (see the module's tie rule)."""

    __slots__ = (
        "_count",
        "_decimals",
        "_fast",
        "_fast_at",
        "_fast_ring",
        "_fast_sum",
        "_scale",
        "_slow",
        "_slow_at",
        "_slow_ring",
        "_slow_sum",
        "_state",
    )
    _count: int
    _fast_at: int
    _fast_sum: int
    _slow_at: int
    _slow_sum: int
    _state: int

    def __init__(self, fast: int, slow: int, decimals: int) -> None:
        self._fast = check_int("fast", fast)
        self._slow = check_int("slow", slow, minimum=2)
        if self._fast >= self._slow:
            raise ValueError(f"fast ({fast}) must be shorter than slow ({slow})")
        self._decimals = check_int("decimals", decimals, minimum=0)
        self._scale: int = 10**self._decimals
        # Ring buffers (a list and the next slot to overwrite): it runs once per bar, and list
        # indexing is far cheaper than a deque's in compiled code. A slot not yet written holds 0.
        self._fast_ring: list[int] = [0] * self._fast
        self._slow_ring: list[int] = [0] * self._slow
        self.reset()

    def update(self, price: float | Decimal) -> int:
        return self.update_ticks(round(price * self._scale))

    def update_float(self, price: float) -> int:
        """update() for a float price (a BarView's close), which a strategy calls once per bar:
        compiled, this is native float arithmetic where round() is a generic builtin call costing
        more than the whole update (same result: round_half_even_int)."""
        return self.update_ticks(round_half_even_int(price * self._scale))

    def update_ticks(self, ticks: int) -> int:
        fast_ring = self._fast_ring
        slow_ring = self._slow_ring
        fast_at = self._fast_at
        slow_at = self._slow_at
        # The slot overwritten holds the value leaving the window (0 while the window fills).
        self._fast_sum += ticks - fast_ring[fast_at]
        self._slow_sum += ticks - slow_ring[slow_at]
        fast_ring[fast_at] = ticks
        slow_ring[slow_at] = ticks
        fast_at += 1
        slow_at += 1
        self._fast_at = 0 if fast_at == self._fast else fast_at
        self._slow_at = 0 if slow_at == self._slow else slow_at
        if self._count < self._slow:
            self._count += 1
            if self._count < self._slow:
                return 0
        difference = self._fast_sum * self._slow - self._slow_sum * self._fast
        if difference == 0:
            return 0
        sign = 1 if difference > 0 else -1
        previous = self._state
        self._state = sign
        return sign if previous == -sign else 0

    @property
    def state(self) -> int:
        """+1 while fast is above slow, -1 below (ties keep the last), 0 before either happened."""
        return self._state

    @property
    def ready(self) -> bool:
        return self._count == self._slow

    @property
    def warmup(self) -> int:
        return self._slow

    @property
    def periods(self) -> tuple[int, int]:
        return (self._fast, self._slow)

    def reset(self) -> None:
        self._fast_ring[:] = [0] * self._fast
        self._slow_ring[:] = [0] * self._slow
        self._fast_at = 0
        self._slow_at = 0
        self._count = 0
        self._fast_sum = 0
        self._slow_sum = 0
        self._state = 0


def _window_sums(ticks: IntArray, period: int) -> IntArray:
    """Integer sums of every full window. int64 cumulative sums may wrap around on long series,
    but the differences are exact modulo 2**64 and so exact whenever the window sum itself fits."""
    totals = np.cumsum(ticks, dtype=np.int64)
    sums = totals[period - 1 :].copy()
    sums[1:] -= totals[:-period]
    return sums


def exact_sma(close: npt.ArrayLike, period: int, decimals: int) -> FloatArray:
    """ExactSMA over an array: the mean of the integer-tick window sums; NaN for period - 1 entries."""
    ticks = to_ticks(close, decimals)
    n = check_int("period", period)
    out = nan_array(len(ticks))
    if len(ticks) >= n:
        out[n - 1 :] = _window_sums(ticks, n) / (n * 10**decimals)
    return out


def exact_sma_cross(close: npt.ArrayLike, fast: int, slow: int, decimals: int) -> npt.NDArray[np.int8]:
    """ExactSMACross over an array: +1 where fast crosses above slow, -1 below, 0 elsewhere."""
    n_fast = check_int("fast", fast)
    n_slow = check_int("slow", slow, minimum=2)
    if n_fast >= n_slow:
        raise ValueError(f"fast ({fast}) must be shorter than slow ({slow})")
    ticks = to_ticks(close, decimals)
    crosses = np.zeros(len(ticks), dtype=np.int8)
    if len(ticks) < n_slow:
        return crosses
    fast_sums = _window_sums(ticks, n_fast)[n_slow - n_fast :]
    slow_sums = _window_sums(ticks, n_slow)
    divisor = gcd(n_fast, n_slow)
    fast_factor, slow_factor = n_slow // divisor, n_fast // divisor
    bound = int(np.max(np.abs(ticks))) * n_fast * fast_factor
    if bound >= 2**62:  # the products could overflow int64: let Python integers take them
        difference = fast_sums.astype(object) * fast_factor - slow_sums.astype(object) * slow_factor
        signs = np.array([(d > 0) - (d < 0) for d in difference], dtype=np.int8)
    else:
        signs = np.sign(fast_sums * fast_factor - slow_sums * slow_factor).astype(np.int8)
    # The state is the last non-zero sign so far: carry each non-zero sign's index forward.
    last = np.maximum.accumulate(np.where(signs != 0, np.arange(len(signs)), 0))
    state = signs[last]
    flipped = (state[1:] != state[:-1]) & (state[:-1] != 0)
    crosses[n_slow:] = np.where(flipped, state[1:], 0)
    return crosses
