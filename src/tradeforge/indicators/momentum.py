"""Momentum oscillators: Wilder's RSI and MACD, incremental (RSI, MACD) and vectorized (rsi, macd)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tradeforge.indicators.base import FloatArray, PeriodIndicator, as_series, check_int, nan_array, smooth
from tradeforge.indicators.moving_average import seeded_ema

NEUTRAL_RSI = 50.0  # no movement at all in the averaging history: neither overbought nor oversold


class RSI(PeriodIndicator[float]):
    """Wilder's relative strength index, 100 * avg_gain / (avg_gain + avg_loss).

    The averages start as plain means of the first `period` changes (so period + 1 prices) and are
    then smoothed as avg = (avg * (period - 1) + change) / period, exactly as TA-Lib does."""

    __slots__ = ("_count", "_gain", "_loss", "_previous")

    def __init__(self, period: int) -> None:
        self._period = check_int("period", period)
        self._previous: float | None = None
        self._count = 0
        self._gain = 0.0
        self._loss = 0.0
        self._value: float | None = None

    def update(self, value: float) -> float | None:
        previous = self._previous
        self._previous = value
        if previous is None:
            return None
        change = value - previous
        n = self._period
        if self._value is not None:
            gain = self._gain * (n - 1)
            loss = self._loss * (n - 1)
            if change < 0.0:
                loss -= change
            else:
                gain += change
            gain /= n
            loss /= n
        else:
            if change < 0.0:
                self._loss -= change
            else:
                self._gain += change
            self._count += 1
            if self._count < n:
                return None
            gain = self._gain / n
            loss = self._loss / n
        self._gain = gain
        self._loss = loss
        total = gain + loss
        result = self._value = 100.0 * (gain / total) if total > 0.0 else NEUTRAL_RSI
        return result

    @property
    def warmup(self) -> int:
        return self._period + 1

    def reset(self) -> None:
        self._previous = None
        self._count = 0
        self._gain = 0.0
        self._loss = 0.0
        self._value = None


class MACD:
    """MACD line (fast EMA - slow EMA), its signal EMA and the histogram (line - signal).

    As in TA-Lib, both EMAs are seeded at the same bar, the slow-th: the slow one with the mean of
    the first `slow` values, the fast one with the mean of the last `fast` of those. The signal EMA is
    seeded with the mean of the first `signal` MACD values, and nothing is returned before it exists,
    so the first (macd, signal, histogram) comes with update number slow + signal - 1."""

    __slots__ = (
        "_count",
        "_fast",
        "_fast_alpha",
        "_fast_ema",
        "_fast_sum",
        "_signal",
        "_signal_alpha",
        "_signal_count",
        "_signal_ema",
        "_signal_sum",
        "_slow",
        "_slow_alpha",
        "_slow_ema",
        "_slow_sum",
        "_value",
    )
    _fast_ema: float | None
    _slow_ema: float | None
    _signal_ema: float | None
    _value: tuple[float, float, float] | None

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self._fast = check_int("fast", fast)
        self._slow = check_int("slow", slow, minimum=2)
        self._signal = check_int("signal", signal)
        if self._fast >= self._slow:
            raise ValueError(f"fast ({fast}) must be shorter than slow ({slow})")
        self._fast_alpha = 2.0 / (self._fast + 1)
        self._slow_alpha = 2.0 / (self._slow + 1)
        self._signal_alpha = 2.0 / (self._signal + 1)
        self.reset()

    def update(self, value: float) -> tuple[float, float, float] | None:
        fast = self._fast_ema
        slow = self._slow_ema
        if fast is None or slow is None:
            return self._warm_emas(value)
        fast += self._fast_alpha * (value - fast)
        slow += self._slow_alpha * (value - slow)
        self._fast_ema = fast
        self._slow_ema = slow
        line = fast - slow
        signal = self._signal_ema
        if signal is None:
            return self._warm_signal(line)
        signal += self._signal_alpha * (line - signal)
        self._signal_ema = signal
        result = self._value = (line, signal, line - signal)
        return result

    def _warm_emas(self, value: float) -> tuple[float, float, float] | None:
        self._count += 1
        self._slow_sum += value
        if self._count > self._slow - self._fast:
            self._fast_sum += value
        if self._count < self._slow:
            return None
        fast = self._fast_ema = self._fast_sum / self._fast
        slow = self._slow_ema = self._slow_sum / self._slow
        return self._warm_signal(fast - slow)

    def _warm_signal(self, line: float) -> tuple[float, float, float] | None:
        self._signal_count += 1
        self._signal_sum += line
        if self._signal_count < self._signal:
            return None
        signal = self._signal_ema = self._signal_sum / self._signal
        result = self._value = (line, signal, line - signal)
        return result

    @property
    def value(self) -> tuple[float, float, float] | None:
        """(macd, signal, histogram), or None during the warm-up."""
        return self._value

    @property
    def ready(self) -> bool:
        return self._value is not None

    @property
    def warmup(self) -> int:
        return self._slow + self._signal - 1

    @property
    def periods(self) -> tuple[int, int, int]:
        return (self._fast, self._slow, self._signal)

    def reset(self) -> None:
        self._count = 0
        self._fast_sum = 0.0
        self._slow_sum = 0.0
        self._fast_ema = None
        self._slow_ema = None
        self._signal_count = 0
        self._signal_sum = 0.0
        self._signal_ema = None
        self._value = None


def rsi(close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Wilder's RSI as RSI computes it; NaN for the first `period` entries."""
    (x,) = as_series(close)
    n = check_int("period", period)
    out = nan_array(len(x))
    if len(x) <= n:
        return out
    change = np.diff(x)
    gains = np.where(change > 0.0, change, 0.0)
    losses = np.where(change < 0.0, -change, 0.0)
    gain_seed = float(gains[:n].sum()) / n
    loss_seed = float(losses[:n].sum()) / n
    avg_gain = np.concatenate(([gain_seed], smooth(gains[n:], 1.0 / n, gain_seed)))
    avg_loss = np.concatenate(([loss_seed], smooth(losses[n:], 1.0 / n, loss_seed)))
    total = avg_gain + avg_loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out[n:] = np.where(total > 0.0, 100.0 * (avg_gain / total), NEUTRAL_RSI)
    return out


def macd(
    close: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(macd, signal, histogram) as MACD computes them; all NaN for the first slow + signal - 2."""
    (x,) = as_series(close)
    n_fast = check_int("fast", fast)
    n_slow = check_int("slow", slow, minimum=2)
    n_signal = check_int("signal", signal)
    if n_fast >= n_slow:
        raise ValueError(f"fast ({fast}) must be shorter than slow ({slow})")
    line_out, signal_out, hist_out = nan_array(len(x)), nan_array(len(x)), nan_array(len(x))
    first = n_slow + n_signal - 2
    if len(x) <= first:
        return line_out, signal_out, hist_out
    start = n_slow - 1
    line = seeded_ema(x, n_fast, start) - seeded_ema(x, n_slow, start)
    signal_line = seeded_ema(line, n_signal, n_signal - 1)
    line_out[first:] = line[n_signal - 1 :]
    signal_out[first:] = signal_line
    hist_out[first:] = line_out[first:] - signal_line
    return line_out, signal_out, hist_out
