"""Vectorized backtests: strategies given as signal arrays, run under the event-driven fill rules."""

# A strategy that can say "enter here, exit there" for every bar at once (an array of +1 / -1 / 0)
# skips the per-bar event loop: vectorized_kernel turns the array into fills with the engine's rules
# (docs/backtest-vectorized.md), in exact integer money, and this module wraps the outcome in the
# same RoundTrip / Metrics / BacktestResult the event-driven engine produces, so the CLI, JSON and
# HTML report paths are shared. `sweep` runs many parameter sets over all cores.

from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.backtest.metrics import Metrics, compute_metrics, infer_periods_per_year
from tradeforge.backtest.results import BacktestResult
from tradeforge.backtest.vectorized_kernel import (
    Pricing,
    decimal_digits,
    final_equity,
    round_trips_of,
    simulate,
    to_money,
    to_units,
    trade_metrics,
)
from tradeforge.domain.values import ZERO, decimal_str
from tradeforge.indicators.exact import exact_sma_cross

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
SignalArray = npt.NDArray[np.int8]
# signal(bars, config, **params) -> +1 (enter) / -1 (exit) / 0 per bar; module-level for spawn.
SignalFunction = Callable[..., SignalArray]


@dataclass(frozen=True, slots=True)
class BarArrays:
    """Bars as columns: open time (epoch ms), open and close. Prices must be on the tick grid."""

    timestamp: IntArray
    open: FloatArray
    close: FloatArray

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", np.ascontiguousarray(self.timestamp, dtype=np.int64))
        object.__setattr__(self, "open", np.ascontiguousarray(self.open, dtype=np.float64))
        object.__setattr__(self, "close", np.ascontiguousarray(self.close, dtype=np.float64))
        n = len(self.timestamp)
        if self.timestamp.ndim != 1 or self.open.shape != (n,) or self.close.shape != (n,):
            raise ValueError("timestamp, open and close must be one-dimensional and of equal length")
        if n > 1 and np.any(np.diff(self.timestamp) <= 0):
            raise ValueError("timestamps must be strictly increasing")

    def __len__(self) -> int:
        return len(self.timestamp)

    @classmethod
    def from_columns(cls, columns: Any) -> BarArrays:
        """From any column holder with `ts` (or `timestamp`), `open` and `close` arrays, such as the
        event-driven engine's bar columns."""
        stamps = columns.ts if hasattr(columns, "ts") else columns.timestamp
        return cls(stamps, columns.open, columns.close)

    def slice(self, start: int, stop: int | None = None) -> BarArrays:
        return BarArrays(self.timestamp[start:stop], self.open[start:stop], self.close[start:stop])


def load_bars(path: str | os.PathLike[str], start: int = 0, stop: int | None = None) -> BarArrays:
    """Bars [start, stop) of an OHLCV Parquet or CSV file in the schema of shared/data."""
    source = Path(path)
    columns = ["timestamp", "open", "close"]
    suffix = source.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(source, columns=columns)
    elif suffix == ".csv":
        import pyarrow.csv as pcsv

        table = pcsv.read_csv(source, convert_options=pcsv.ConvertOptions(include_columns=columns))
    else:
        raise ValueError(f"{source}: expected a .parquet or .csv file")
    stop = table.num_rows if stop is None else min(stop, table.num_rows)
    table = table.slice(start, max(0, stop - start))
    return BarArrays(*(table.column(name).to_numpy() for name in columns))


@dataclass(frozen=True, slots=True)
class VectorizedConfig:
    """The fill rules' parameters. Fees are fee_rate x fill notional per side, in the quote asset;
    slippage_bps moves buys up and sells down; round_to_tick then puts a slipped price on the tick
    grid against the trader, as the paper venue does (no effect without slippage)."""

    symbol: str = "BTC/USDT"
    cash: Decimal = Decimal("10000000")
    quantity: Decimal = Decimal("1")
    fee_rate: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal("0")
    tick_size: Decimal = Decimal("0.01")
    round_to_tick: bool = True
    bar_interval_ms: int | None = None  # for RoundTrip.bars_held; inferred from the bars when None

    def __post_init__(self) -> None:
        for name in ("cash", "quantity", "fee_rate", "slippage_bps", "tick_size"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise ValueError(f"{name} must be a finite Decimal")
        if self.cash <= 0 or self.quantity <= 0:
            raise ValueError("cash and quantity must be positive")
        if not ZERO <= self.fee_rate < 1:
            raise ValueError("fee_rate must be in [0, 1)")
        if not ZERO <= self.slippage_bps < 10_000:
            raise ValueError("slippage_bps must be in [0, 10000)")
        if self.tick_size <= 0 or self.tick_size != Decimal(1).scaleb(-decimal_digits(self.tick_size)):
            raise ValueError("tick_size must be a power of ten (0.01, 1, ...)")
        if self.bar_interval_ms is not None and self.bar_interval_ms <= 0:
            raise ValueError("bar_interval_ms must be positive")

    @property
    def price_decimals(self) -> int:
        return decimal_digits(self.tick_size)

    def pricing(self) -> Pricing:
        return Pricing.of(
            self.price_decimals, self.quantity, self.fee_rate, self.slippage_bps, self.round_to_tick
        )


def signals_from(entries: npt.ArrayLike, exits: npt.ArrayLike) -> SignalArray:
    """One signal array from boolean entry and exit arrays; a bar with both is ignored."""
    enter = np.asarray(entries, dtype=bool)
    leave = np.asarray(exits, dtype=bool)
    if enter.shape != leave.shape or enter.ndim != 1:
        raise ValueError("entries and exits must be one-dimensional and of equal length")
    return enter.astype(np.int8) - leave.astype(np.int8)


def sma_cross_signals(bars: BarArrays, config: VectorizedConfig, *, fast: int, slow: int) -> SignalArray:
    """The built-in sma_cross as signals: +1 where the fast SMA of closes crosses above the slow one,
    -1 below, decided exactly on integer ticks (the tie rule of docs/indicators.md)."""
    return exact_sma_cross(bars.close, fast, slow, config.price_decimals)


def _infer_interval(timestamps: IntArray) -> int | None:
    if len(timestamps) < 2:
        return None
    return int(np.median(np.diff(timestamps)))


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """The position still open after the last bar (marked at the last close in final_equity)."""

    entry_ts: int
    entry_price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class VectorizedRun:
    """A vectorized backtest: the shared BacktestResult (for --json and the results file) plus the
    per-bar equity curve and bars the HTML report draws, and any position left open."""

    result: BacktestResult
    equity: FloatArray
    bars: BarArrays
    open_position: OpenPosition | None = None

    def write_report(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        """Write report.html (equity, drawdown, price with trade markers) and result.json (summary
        and round trips) into `directory`, as an event-driven run does; return their paths."""
        return self.result.write_report(
            directory,
            title=f"{self.result.strategy} (vectorized)",
            timestamps_ms=self.bars.timestamp,
            close=self.bars.close,
            equity=self.equity,
        )


def run_signals(
    bars: BarArrays,
    signals: npt.ArrayLike,
    config: VectorizedConfig,
    *,
    strategy: str = "signals",
    params: Mapping[str, Any] | None = None,
    data_file: str | None = None,
) -> VectorizedRun:
    """Backtest one signal array (+1 enter, -1 exit, 0 nothing, one per bar) under the fill rules.
    elapsed_seconds is the kernel's run, round trips and metrics included (data loading excluded)."""
    return _run(bars, signals, config, strategy, params, data_file, time.perf_counter())


def run_sma_cross(
    bars: BarArrays,
    config: VectorizedConfig,
    *,
    fast: int = 10,
    slow: int = 30,
    data_file: str | None = None,
) -> VectorizedRun:
    """The built-in sma_cross (fast, slow, config.quantity) in vectorized mode; its elapsed_seconds
    include the crossover signals."""
    started = time.perf_counter()
    signals = sma_cross_signals(bars, config, fast=fast, slow=slow)
    params = {"fast": fast, "slow": slow, "quantity": config.quantity}
    return _run(bars, signals, config, "sma_cross", params, data_file, started)


def _run(
    bars: BarArrays,
    signals: npt.ArrayLike,
    config: VectorizedConfig,
    strategy: str,
    params: Mapping[str, Any] | None,
    data_file: str | None,
    started: float,
) -> VectorizedRun:
    pricing = config.pricing()
    digits = pricing.money_digits
    outcome = simulate(signals, bars.open, bars.close, pricing, to_units(config.cash, digits))
    interval = config.bar_interval_ms or _infer_interval(bars.timestamp)
    trips = round_trips_of(outcome, bars.timestamp, pricing, config.symbol, config.quantity, interval)
    metrics = compute_metrics(
        outcome.equity, bars.timestamp, trips, to_money(outcome.fees, digits), outcome.exposure_bars
    )
    fills = outcome.fills
    result = BacktestResult(
        strategy=strategy,
        params=dict(params or {}),
        data_file=data_file,
        bars=len(bars),
        orders=fills.count + int(fills.pending_order),
        elapsed_seconds=time.perf_counter() - started,
        trips=trips,
        metrics=metrics,
        final_equity=final_equity(outcome, pricing, config.cash),
        extra={"mode": "vectorized", "fills": fills.count, "open_position": fills.is_open},
    )
    open_position = None
    if fills.is_open:
        open_position = OpenPosition(
            int(bars.timestamp[fills.entry_bars[-1]]),
            to_money(int(fills.entry_prices[-1]), pricing.price_digits),
            config.quantity,
        )
    return VectorizedRun(result, outcome.equity, bars, open_position)


# -- parameter sweeps ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SweepRow:
    """One parameter set's outcome: the same final equity, order count and metrics a single run of
    those parameters reports (trade metrics computed from exact integers, not RoundTrip objects)."""

    params: Mapping[str, Any]
    final_equity: Decimal
    orders: int
    metrics: Metrics

    def to_dict(self) -> dict[str, Any]:
        """Flat and JSON-friendly: the parameters, then final_equity, orders and every metric."""
        row: dict[str, Any] = dict(self.params)
        row["final_equity"] = decimal_str(self.final_equity)
        row["orders"] = self.orders
        row.update(self.metrics.to_dict())
        return row


def sma_cross_grid(fasts: Iterable[int], slows: Iterable[int]) -> list[dict[str, int]]:
    """Every (fast, slow) pair with fast < slow, as sweep parameter sets."""
    slow_values = list(slows)
    return [{"fast": f, "slow": s} for f in fasts for s in slow_values if f < s]


def evaluate(
    bars: BarArrays,
    config: VectorizedConfig,
    params: Mapping[str, Any],
    signal: SignalFunction = sma_cross_signals,
    periods_per_year: float | None = None,
) -> SweepRow:
    """One sweep cell: signals, kernel and metrics, without building RoundTrip objects
    (periods_per_year as compute_metrics infers it from the bars when None)."""
    pricing = config.pricing()
    digits = pricing.money_digits
    signals = signal(bars, config, **params)
    outcome = simulate(signals, bars.open, bars.close, pricing, to_units(config.cash, digits))
    metrics = compute_metrics(
        outcome.equity,
        bars.timestamp,
        (),
        to_money(outcome.fees, digits),
        outcome.exposure_bars,
        periods_per_year if periods_per_year is not None else infer_periods_per_year(bars.timestamp),
    )
    metrics = dataclasses.replace(metrics, **trade_metrics(outcome.net_pnl, digits))
    fills = outcome.fills
    return SweepRow(
        params=dict(params),
        final_equity=final_equity(outcome, pricing, config.cash),
        orders=fills.count + int(fills.pending_order),
        metrics=metrics,
    )


@dataclass(frozen=True, slots=True)
class _Job:
    bars: BarArrays
    config: VectorizedConfig
    signal: SignalFunction
    periods_per_year: float | None


_job: _Job | None = None  # a sweep worker's inputs, set once per worker process by _start_worker


def _start_worker(job: _Job) -> None:
    global _job
    _job = job
    keep_freed_memory()


# glibc's mallopt parameters (malloc.h) and the values a sweep worker uses.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 2**20  # glibc's ceiling on 64-bit: arrays below it come from the heap
_TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> None:
    """Make glibc keep freed blocks for reuse instead of handing them back to the kernel.

    A run allocates and frees dozens of bar-sized arrays (4 MB for a year of minutes); by default
    glibc unmaps each on free, so the next one faults in freshly zeroed pages: measured, half of a
    run's CPU time was kernel time. Sweep workers call this; a process that runs many vectorized
    backtests itself may call it once at startup (it changes that process's allocator, keeping up
    to 1 GB of freed memory). Does nothing off Linux/glibc."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    except (OSError, AttributeError):
        pass


def _run_cell(params: Mapping[str, Any]) -> SweepRow:
    if _job is None:
        raise RuntimeError("sweep worker was not initialized")
    return evaluate(_job.bars, _job.config, params, _job.signal, _job.periods_per_year)


def available_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def sweep(
    bars: BarArrays,
    grid: Sequence[Mapping[str, Any]],
    config: VectorizedConfig,
    *,
    signal: SignalFunction = sma_cross_signals,
    workers: int | None = None,
    start_method: str | None = None,
) -> list[SweepRow]:
    """Evaluate every parameter set of `grid` (rows in grid order), in parallel over `workers`
    processes (default: all available cores; 1 runs in this process).

    Workers are forked where the platform allows (start_method None), so the bar arrays reach them
    through copy-on-write memory rather than pickles; with "spawn" (the only choice on some
    platforms, and the safe one from a process running threads) they are pickled once per worker,
    not per cell. `signal` must then be importable by name (a module-level function)."""
    count = available_cores() if workers is None else workers
    if count < 1:
        raise ValueError("workers must be at least 1")
    count = min(count, len(grid))
    periods = infer_periods_per_year(bars.timestamp)
    if count <= 1:
        return [evaluate(bars, config, params, signal, periods) for params in grid]
    job = _Job(bars, config, signal, periods)
    if start_method is None:
        start_method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(start_method)
    # A few chunks per worker: cells cost alike, and fewer round trips keep the queues quiet.
    chunk = max(1, len(grid) // (count * 4))
    with ProcessPoolExecutor(count, mp_context=context, initializer=_start_worker, initargs=(job,)) as pool:
        return list(pool.map(_run_cell, grid, chunksize=chunk))
