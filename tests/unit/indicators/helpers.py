"""Test helpers for indicators: the real sample bars, running an incremental indicator, tolerances."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"
REL = 1e-9

FloatArray = npt.NDArray[np.float64]


class Bars(NamedTuple):
    ts: npt.NDArray[np.int64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray


@functools.cache
def sample_bars() -> Bars:
    """The 7-day BTCUSDT 1-minute sample shipped in data/samples (10,080 real bars)."""
    table = pq.read_table(SAMPLE)
    columns = ("timestamp", "open", "high", "low", "close", "volume")
    return Bars(*(table.column(name).to_numpy() for name in columns))


def run(indicator: Any, *columns: Sequence[float] | npt.NDArray[Any]) -> list[Any]:
    """Feed the columns row by row as Python scalars, as a backtest loop would; collect the results."""
    rows = zip(*(np.asarray(column).tolist() for column in columns), strict=True)
    return [indicator.update(*row) for row in rows]


def as_array(results: list[Any], component: int | None = None) -> FloatArray:
    """None -> NaN; for tuple results, one component."""
    if component is None:
        return np.array([np.nan if r is None else r for r in results], dtype=np.float64)
    return np.array([np.nan if r is None else r[component] for r in results], dtype=np.float64)


def assert_close(
    actual: npt.ArrayLike, expected: npt.ArrayLike, *, rel: float = REL, scale: npt.ArrayLike | None = None
) -> None:
    """Same NaN positions and |actual - expected| <= rel * max(|expected|, |scale|) elsewhere.

    `scale` is for values that are differences of price-sized quantities (MACD): their own size
    can be near zero, so the error is measured against the price they were computed from."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape
    assert np.array_equal(np.isnan(a), np.isnan(e)), (
        f"NaN mismatch: {int(np.isnan(a).sum())} vs {int(np.isnan(e).sum())} NaN"
    )
    size = np.abs(e) if scale is None else np.maximum(np.abs(e), np.abs(np.asarray(scale, dtype=np.float64)))
    mask = ~np.isnan(e)
    error = np.abs(a[mask] - e[mask])
    limit = rel * size[mask]
    worst = int(np.argmax(error - limit)) if error.size else 0
    assert np.all(error <= limit), f"off by {error[worst]:.3g} (allowed {limit[worst]:.3g})"
    assert mask.any(), "nothing was compared"
