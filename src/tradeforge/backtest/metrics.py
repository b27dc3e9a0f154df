"""Performance metrics of a backtest from its equity curve and round trips, vectorized with numpy."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.backtest.trades import PRECISION, RoundTrip
from tradeforge.domain.values import ZERO, decimal_str

MS_PER_YEAR = 365 * 24 * 60 * 60 * 1000  # crypto trades every day: a 365-day year
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Metrics:
    """Backtest metrics. Fractions are floats (0.1 = 10 %), money is Decimal in the quote asset.

    A metric that is undefined for the input (flat equity, a single bar, no trades, no losing trade,
    non-positive equity, ...) is None, never NaN or infinity; docs/backtest-results.md lists when."""

    bars: int
    start_ts: int | None
    end_ts: int | None
    periods_per_year: float | None
    total_return: float | None
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: float | None
    max_drawdown_duration_ms: int | None
    max_drawdown_duration_bars: int | None
    trade_count: int
    winning_trades: int
    losing_trades: int
    win_rate: float | None
    profit_factor: float | None
    expectancy: Decimal | None
    gross_profit: Decimal
    gross_loss: Decimal
    fees_paid: Decimal
    exposure: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: Decimals as plain strings, floats as Python floats, undefined as None."""
        result: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Decimal):
                value = decimal_str(value)
            result[field.name] = value
        return result


def _finite(value: float) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def infer_periods_per_year(timestamps_ms: IntArray) -> float | None:
    """Bars per 365-day year from the median bar spacing (525,600 for one-minute bars)."""
    if timestamps_ms.size < 2:
        return None
    spacing = float(np.median(np.diff(timestamps_ms)))
    if spacing <= 0:
        return None
    return MS_PER_YEAR / spacing


def drawdown_series(equity: FloatArray) -> FloatArray:
    """Drawdown per bar as a positive fraction of the running peak (0 at a new high).

    Needs equity[0] > 0 so that every running peak is positive."""
    peaks = np.maximum.accumulate(equity)
    result: FloatArray = 1.0 - equity / peaks
    return result


def _max_drawdown_duration(equity: FloatArray, timestamps_ms: IntArray) -> tuple[int, int]:
    """Longest (ms, bars) from a peak to the bar that regains it, or to the last bar if none does.

    The episode is chosen by time; its length in bars is reported alongside."""
    at_peak = equity >= np.maximum.accumulate(equity)
    last_peak = np.maximum.accumulate(np.where(at_peak, np.arange(equity.size, dtype=np.int64), 0))
    # An episode ends at the bar that regains its peak, or at the last bar while still underwater;
    # bar 0 is always a peak, so every end has a bar before it.
    ends = np.zeros(equity.size, dtype=bool)
    ends[1:] = at_peak[1:] & ~at_peak[:-1]
    recovered = ends.copy()
    ends[-1] |= not at_peak[-1]
    end_index = np.flatnonzero(ends)
    if end_index.size == 0:
        return 0, 0
    start = np.where(recovered[end_index], last_peak[end_index - 1], last_peak[end_index])
    duration_ms = timestamps_ms[end_index] - timestamps_ms[start]
    duration_bars = end_index - start
    best = int(np.argmax(duration_ms))
    if duration_ms[best] == 0:
        best = int(np.argmax(duration_bars))
    return int(duration_ms[best]), int(duration_bars[best])


def compute_metrics(
    equity: FloatArray,
    timestamps_ms: IntArray,
    trips: Sequence[RoundTrip],
    fees_paid: Decimal,
    exposure_bars: int,
    periods_per_year: float | None = None,
) -> Metrics:
    """Metrics of an equity curve (one value per bar, marked to market) and its closed round trips.

    Returns are per-bar simple returns of equity. periods_per_year is inferred from the median bar
    spacing unless given. Sharpe = mean/std(ddof=1) * sqrt(periods), risk-free 0; Sortino uses the
    downside deviation sqrt(mean(min(r, 0)^2)) over all returns (target 0). CAGR spans the first to
    the last timestamp. exposure_bars counts the bars that ended with a position open."""
    equity = np.asarray(equity, dtype=np.float64)
    timestamps_ms = np.asarray(timestamps_ms, dtype=np.int64)
    if equity.ndim != 1 or timestamps_ms.shape != equity.shape:
        raise ValueError("equity and timestamps_ms must be one-dimensional and of equal length")
    if not np.all(np.isfinite(equity)):
        raise ValueError("equity contains NaN or infinity")
    if timestamps_ms.size > 1 and np.any(np.diff(timestamps_ms) < 0):
        raise ValueError("timestamps_ms must be non-decreasing")
    bars = int(equity.size)
    if not 0 <= exposure_bars <= bars:
        raise ValueError(f"exposure_bars must be between 0 and {bars}, got {exposure_bars}")
    if periods_per_year is not None and not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError("periods_per_year must be a positive finite number")
    periods = periods_per_year if periods_per_year is not None else infer_periods_per_year(timestamps_ms)

    curve = _curve_metrics(equity, timestamps_ms, periods)
    trade = _trade_metrics(trips)
    return Metrics(
        bars=bars,
        start_ts=int(timestamps_ms[0]) if bars else None,
        end_ts=int(timestamps_ms[-1]) if bars else None,
        periods_per_year=periods,
        fees_paid=fees_paid,
        exposure=exposure_bars / bars if bars else None,
        **curve,
        **trade,
    )


def _curve_metrics(equity: FloatArray, timestamps_ms: IntArray, periods: float | None) -> dict[str, Any]:
    result: dict[str, Any] = dict.fromkeys(
        (
            "total_return",
            "cagr",
            "volatility",
            "sharpe",
            "sortino",
            "calmar",
            "max_drawdown",
            "max_drawdown_duration_ms",
            "max_drawdown_duration_bars",
        )
    )
    # Simple returns and peak-relative drawdowns only mean something while the base is positive.
    if equity.size == 0 or equity[0] <= 0:
        return result
    first, last = float(equity[0]), float(equity[-1])
    result["total_return"] = _finite(last / first - 1.0)
    years = float(timestamps_ms[-1] - timestamps_ms[0]) / MS_PER_YEAR
    if years > 0 and last >= 0:
        result["cagr"] = _annualize_growth(last / first, years)

    max_drawdown = float(np.max(drawdown_series(equity)))
    result["max_drawdown"] = _finite(max_drawdown)
    duration_ms, duration_bars = _max_drawdown_duration(equity, timestamps_ms)
    result["max_drawdown_duration_ms"] = duration_ms
    result["max_drawdown_duration_bars"] = duration_bars
    if result["cagr"] is not None and max_drawdown > 0:
        result["calmar"] = _finite(result["cagr"] / max_drawdown)

    if equity.size < 2 or np.any(equity[:-1] <= 0):
        return result
    returns = equity[1:] / equity[:-1] - 1.0
    mean = float(np.mean(returns))
    if periods is not None and returns.size >= 2:
        std = float(np.std(returns, ddof=1))
        result["volatility"] = _finite(std * math.sqrt(periods))
        if std > 0:
            result["sharpe"] = _finite(mean / std * math.sqrt(periods))
    if periods is not None:
        downside = math.sqrt(float(np.mean(np.square(np.minimum(returns, 0.0)))))
        if downside > 0:
            result["sortino"] = _finite(mean / downside * math.sqrt(periods))
    return result


def _annualize_growth(growth: float, years: float) -> float | None:
    if growth == 0:
        return -1.0
    exponent = math.log(growth) / years
    try:
        return _finite(math.expm1(exponent))
    except OverflowError:
        # A short, strongly positive run annualizes beyond what a float holds.
        return None


def _trade_metrics(trips: Sequence[RoundTrip]) -> dict[str, Any]:
    wins = [trip.net_pnl for trip in trips if trip.net_pnl > 0]
    losses = [trip.net_pnl for trip in trips if trip.net_pnl < 0]
    with localcontext() as context:
        # Sums stay exact at the precision round trips are built with.
        context.prec = PRECISION
        gross_profit = sum(wins, ZERO)
        gross_loss = -sum(losses, ZERO)
        net = gross_profit - gross_loss
    count = len(trips)
    return {
        "trade_count": count,
        "winning_trades": len(wins),
        "losing_trades": len(losses),
        "win_rate": len(wins) / count if count else None,
        "profit_factor": _finite(float(gross_profit / gross_loss)) if gross_loss > 0 else None,
        "expectancy": net / count if count else None,
        "gross_profit": gross_profit,
        "gross_loss": gross_loss,
    }
