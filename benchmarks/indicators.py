"""Indicator speed: incremental updates/s over a year of 1-minute bars, vectorized ms beside TA-Lib."""

# The year is shared/data's 525,600 BTCUSDT bars; without it, the 7-day sample in data/samples.

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from benchmarks.common import ROOT, SAMPLE, console, show
from tradeforge import indicators as ti

YEAR = ROOT.parent / "shared" / "data" / "binance_spot_1m" / "BTCUSDT_1m_2025.parquet"
COLUMNS = ("timestamp", "high", "low", "close", "volume")
DAY_MS = 86_400_000


def _talib() -> Any:
    """The TA-Lib module, or None: it is a dev dependency, and without it the peer column is empty."""
    try:
        import talib
    except ImportError:
        return None
    return talib


def _load() -> tuple[Path, dict[str, np.ndarray[Any, Any]]]:
    path = YEAR if YEAR.exists() else SAMPLE
    table = pq.read_table(path, columns=list(COLUMNS))
    return path, {name: table.column(name).to_numpy() for name in COLUMNS}


def _incremental_rate(update: Callable[..., object], columns: list[list[Any]]) -> float:
    """Updates per second of one indicator fed Python scalars, as the event-driven backtest does."""
    gc.collect()
    if len(columns) == 1:
        (values,) = columns
        started = time.perf_counter()
        for value in values:
            update(value)
    else:
        rows = list(zip(*columns, strict=True))
        started = time.perf_counter()
        for row in rows:
            update(*row)
    return len(columns[0]) / (time.perf_counter() - started)


def _seconds(function: Callable[[], object]) -> float:
    """Best of three, so one-time costs (imports, page faults) do not count."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main(workdir: Path) -> list[list[str]]:
    del workdir  # nothing to write: the indicators read the bar file and keep no state on disk
    path, data = _load()
    ts, high, low, close, volume = (data[name] for name in COLUMNS)
    bars = len(close)
    py = {name: array.tolist() for name, array in data.items()}
    c = [py["close"]]
    hl = [py["high"], py["low"]]
    hlc = [*hl, py["close"]]
    hlcv = [*hlc, py["volume"]]
    incremental: list[tuple[str, Callable[..., object], list[list[Any]]]] = [
        ("SMA(20)", ti.SMA(20).update, c),
        ("EMA(20)", ti.EMA(20).update, c),
        ("RSI(14)", ti.RSI(14).update, c),
        ("ATR(14)", ti.ATR(14).update, hlc),
        ("Bollinger(20, 2)", ti.Bollinger(20, 2.0).update, c),
        ("MACD(12, 26, 9)", ti.MACD(12, 26, 9).update, c),
        ("Donchian(20)", ti.Donchian(20).update, hl),
        ("VWAP (daily sessions)", ti.VWAP(session_ms=DAY_MS).update, [*hlcv, py["timestamp"]]),
        ("RollingVWAP(20)", ti.RollingVWAP(20).update, hlcv),
        ("ExactSMA(20, 2 decimals)", ti.ExactSMA(20, 2).update, c),
        ("ExactSMACross(10, 30, 2)", ti.ExactSMACross(10, 30, 2).update, c),
    ]
    rows = []
    total_seconds = 0.0
    for name, update, columns in incremental:
        rate = _incremental_rate(update, columns)
        total_seconds += bars / rate
        rows.append([name, f"{rate:,.0f}", f"{1e9 / rate:,.0f}", f"{bars / rate:.3f}"])
    rows.append(["all of the above, one after another", "", "", f"{total_seconds:.3f}"])
    show(
        f"Incremental indicators: {bars:,} bars of {path.name}",
        ["indicator", "updates/s", "ns/update", "s per pass"],
        rows,
    )

    talib = _talib()
    vectorized: list[tuple[str, Callable[[], object], Callable[[], object] | None]] = [
        ("sma(20)", lambda: ti.sma(close, 20), lambda: talib.SMA(close, 20)),
        ("ema(20)", lambda: ti.ema(close, 20), lambda: talib.EMA(close, 20)),
        ("rsi(14)", lambda: ti.rsi(close, 14), lambda: talib.RSI(close, 14)),
        ("atr(14)", lambda: ti.atr(high, low, close, 14), lambda: talib.ATR(high, low, close, 14)),
        ("bollinger(20, 2)", lambda: ti.bollinger(close, 20, 2.0), lambda: talib.BBANDS(close, 20, 2.0, 2.0)),
        ("macd(12, 26, 9)", lambda: ti.macd(close, 12, 26, 9), lambda: talib.MACD(close, 12, 26, 9)),
        (
            "donchian(20)",
            lambda: ti.donchian(high, low, 20),
            lambda: (talib.MAX(high, 20), talib.MIN(low, 20)),
        ),
        ("vwap (daily)", lambda: ti.vwap(high, low, close, volume, timestamps=ts, session_ms=DAY_MS), None),
        ("rolling_vwap(20)", lambda: ti.rolling_vwap(high, low, close, volume, 20), None),
        ("exact_sma_cross(10, 30)", lambda: ti.exact_sma_cross(close, 10, 30, 2), None),
    ]
    rows = []
    for name, ours, peer in vectorized:
        ours_ms = _seconds(ours) * 1e3
        peer_ms = "" if talib is None or peer is None else f"{_seconds(peer) * 1e3:.1f}"
        rows.append([name, f"{ours_ms:.1f}", peer_ms])
    show(f"Vectorized, {bars:,} bars: ms, best of 3", ["indicator", "tradeforge", "TA-Lib"], rows)
    if talib is None:
        console.print("[yellow]ta-lib is not installed: no peer figures[/]")
    return rows
