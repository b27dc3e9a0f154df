"""Shared pieces of the indicators: the Indicator protocol, parameter checks and array helpers."""

from __future__ import annotations

import operator
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
_BLOCK = 256


class Indicator(Protocol):
    """What every incremental indicator offers besides its own `update(...)` and `value`."""

    @property
    def ready(self) -> bool:
        """True once `value` is defined (the warm-up is over)."""
        ...

    @property
    def warmup(self) -> int:
        """How many updates it takes before the first value: the strategy's history preload."""
        ...

    def reset(self) -> None:
        """Forget everything, as if just constructed."""
        ...


V = TypeVar("V")


class PeriodIndicator(Generic[V]):
    """Base of the indicators computed over `period` updates: `value` (None until warm), `ready`,
    `period`, and a warm-up of `period` updates, which subclasses that need more override."""

    __slots__ = ("_period", "_value")

    _period: int
    _value: V | None

    @property
    def value(self) -> V | None:
        return self._value

    @property
    def ready(self) -> bool:
        return self._value is not None

    @property
    def period(self) -> int:
        return self._period

    @property
    def warmup(self) -> int:
        return self._period


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """An integer parameter >= minimum; booleans are refused although Python counts them as ints."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not a boolean")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    return number


def check_float(name: str, value: object, minimum: float | None = None) -> float:
    """A finite real parameter (optionally >= minimum), returned as a Python float."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    return number


def as_series(*arrays: npt.ArrayLike) -> tuple[FloatArray, ...]:
    """The inputs as 1-D float64 arrays of one common length (no copy when already float64)."""
    series = tuple(np.asarray(array, dtype=np.float64) for array in arrays)
    for array in series:
        if array.ndim != 1:
            raise ValueError(f"expected 1-D arrays, got shape {array.shape}")
    if len({len(array) for array in series}) > 1:
        raise ValueError(f"arrays differ in length: {[len(array) for array in series]}")
    return series


def nan_array(length: int) -> FloatArray:
    return np.full(length, np.nan, dtype=np.float64)


def rolling_sum(x: FloatArray, n: int) -> FloatArray:
    """Sums of every window of n consecutive values (len(x) - n + 1 of them), in O(len(x)).

    A single cumulative sum over a year of bars grows so large that differencing it loses digits
    (a year of BTC turnover: ~1e-10 relative on a 20-bar VWAP). So the cumulative sums restart in
    each block of max(n, 256) values, and a window straddling two blocks is the tail of the first
    (its block total minus what came before the window) plus the head of the second."""
    size = len(x)
    if size < n:
        return np.empty(0, dtype=np.float64)
    block = max(n, _BLOCK)
    rows = -(-size // block)
    padded = np.zeros(rows * block, dtype=np.float64)
    padded[:size] = x
    inclusive = np.cumsum(padded.reshape(rows, block), axis=1)
    exclusive = np.zeros_like(inclusive)
    exclusive[:, 1:] = inclusive[:, :-1]
    count = size - n + 1
    sums = inclusive.ravel()[n - 1 : size] - exclusive.ravel()[:count]
    if n > 1:
        # Windows starting in the last n - 1 slots of a block end in the next one: add the rest of
        # their first block's total (what `exclusive` left out is already subtracted).
        offsets = np.arange(block - n + 1, block)
        starts = (np.arange(rows)[:, np.newaxis] * block + offsets).ravel()
        starts = starts[starts < count]
        sums[starts] += inclusive[starts // block, -1]
    return sums


def smooth(x: FloatArray, alpha: float, seed: float) -> FloatArray:
    """y[i] = y[i-1] + alpha * (x[i] - y[i-1]) with y[-1] = seed: an exponential/Wilder average.

    A first-order IIR filter, so scipy's lfilter runs the recursion in C instead of a Python loop."""
    if len(x) == 0:
        return np.empty(0, dtype=np.float64)
    # Imported here, not at the top: scipy adds ~70 MB to every process that imports the
    # indicators, and the incremental forms that strategies use in the service never need it.
    from scipy.signal import lfilter

    decay = 1.0 - alpha
    result: tuple[Any, Any] = lfilter([alpha], [1.0, -decay], x, zi=[decay * seed])
    return np.asarray(result[0], dtype=np.float64)
