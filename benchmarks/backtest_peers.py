"""Backtest speed beside the peers: SMA 10/30 on a year of BTC/USDT minutes, same rules, one run.

`python -m benchmarks backtest_peers [--slow]`; backtrader (about 47 s) runs only with --slow or
TRADEFORGE_BENCH_SLOW_PEERS=1."""

# Every framework runs in a fresh spawned process, so each one's peak RSS is its own (imports and
# data included) and one's imports or caches cannot speed up or slow down another. Data loading
# happens before the clock starts. "first" is the first run in that process (vectorbt's includes
# its JIT warm-up), "best" the best of the repeats. The sweep's process forks its workers; its
# memory line adds every process's proportional set size (shared pages counted once), sampled.

from __future__ import annotations

import base64
import os
import pickle
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, SAMPLE, console, show

PURE_ENV = "TRADEFORGE_PURE_PYTHON"

YEAR = ROOT.parent / "shared" / "data" / "binance_spot_1m" / "BTCUSDT_1m_2025.parquet"
SLOW_ENV = "TRADEFORGE_BENCH_SLOW_PEERS"
SWEEP_WORKERS = 2
SWEEP_FAST = range(5, 55, 5)  # 10 x 10 = 100 parameter sets
SWEEP_SLOW = range(60, 160, 10)
CENT = Decimal("0.01")


@dataclass
class Measurement:
    name: str
    first: float | None = None
    best: float | None = None
    cpu: float | None = None  # CPU seconds of the best run: steadier than wall time on a busy host
    runs: int = 0
    trips: list[Any] = field(default_factory=list)
    open_entry: Any = None
    final_equity: Decimal | None = None
    peak_rss_mb: float = 0.0
    notes: str = ""
    error: str | None = None


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            children = [int(part) for part in handle.read().split()]
    except OSError:
        return [pid]
    return [pid, *(p for child in children for p in _tree(child))]


class PssSampler:
    """Peak of the summed PSS of this process and its descendants, sampled every 10 ms."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in _tree(os.getpid())))
            self._stop.wait(0.01)

    def __enter__(self) -> PssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _timed(function: Callable[[], Any], repeats: int) -> tuple[float, float, float, Any]:
    """(first, best, CPU seconds of the best, last result) over `repeats` runs, each timed by the
    runner's own clocks, which stop before its result is converted for comparison."""
    times: list[tuple[float, float]] = []
    result: Any = None
    for _ in range(repeats):
        result = function()
        times.append((result.seconds, result.cpu_seconds))
    best = min(times)
    return times[0][0], best[0], best[1], result


# -- measured in a child process -------------------------------------------------------------------


def _measure(name: str, path: str, repeats: int) -> Measurement:
    """Load the data, then time `name` on it; runs in its own spawned process."""
    os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar
    measurement = Measurement(name)
    try:
        if name == "sweep":
            return _measure_sweep(Path(path), measurement)
        if name == "vectorized":
            return _measure_vectorized(Path(path), repeats, measurement)
        from tests.integration.backtest.peer_runs import Setup

        setup = Setup()
        market: Any
        if name == "event-driven":
            # Reads its own columns (numpy, no pandas, peers not imported): its memory is its own.
            runner = _event_driven_runner()
            if runner is None:
                measurement.error = "tradeforge.backtest.engine.run_backtest is not available"
                return measurement
            market = Path(path)
        else:
            from tests.integration.backtest import peers

            runner = peers.RUNNERS[name]
            market = peers.load_market(Path(path))
        first, best, cpu, run = _timed(lambda: runner(market, setup), repeats)
        measurement.first, measurement.best, measurement.cpu, measurement.runs = first, best, cpu, repeats
        measurement.trips = [(t.entry_ts, t.entry_price, t.exit_ts, t.exit_price) for t in run.trips]
        measurement.open_entry = run.open_entry
        measurement.final_equity = run.final_equity
        if name == "vectorbt":
            measurement.notes = f"{run.notes['engine']} engine"
    except Exception as error:  # a peer that breaks is reported in its row, not fatal to the table
        measurement.error = f"{type(error).__name__}: {error}"
    measurement.peak_rss_mb = _peak_rss_mb()
    return measurement


def _event_driven_runner() -> Callable[[Any, Any], Any] | None:
    """The event-driven engine as a peers-style runner, if this tree has it."""
    try:
        from tradeforge.backtest.config import BacktestConfig
        from tradeforge.backtest.engine import run_backtest
        from tradeforge.backtest.feed import BarColumns
    except ImportError:
        return None
    from tests.integration.backtest.peer_runs import PeerRun, Stopwatch, Trip

    loaded: dict[Path, Any] = {}

    def run(path: Path, setup: Any) -> PeerRun:
        # Loaded once (the first call); data loading is not part of the engine's elapsed time.
        columns = loaded.get(path) or loaded.setdefault(path, BarColumns.from_file(path, "BTC/USDT"))
        config = BacktestConfig(
            strategy="sma_cross",
            params={"fast": setup.fast, "slow": setup.slow, "quantity": str(setup.quantity)},
            cash=setup.cash,
            fee_rate=setup.fee_rate,
        )
        with Stopwatch() as watch:
            outcome = run_backtest(config, columns)
        # the engine's own loop time, as `tradeforge backtest --json` reports it (results excluded)
        watch.seconds = outcome.result.elapsed_seconds
        result = outcome.result
        trips = [Trip(t.entry_ts, t.entry_price, t.exit_ts, t.exit_price) for t in result.trips]
        fills = list(outcome.fills)
        open_entry = None
        if len(fills) % 2 == 1:
            open_entry = (fills[-1].ts, fills[-1].price)
        return PeerRun(trips, open_entry, result.final_equity, watch.seconds, watch.cpu_seconds)

    return run


def _measure_vectorized(path: Path, repeats: int, measurement: Measurement) -> Measurement:
    """Ours without pandas or the peers' imports, so the peak RSS is what vectorized mode needs."""
    from tradeforge.backtest.vectorized import VectorizedConfig, keep_freed_memory, load_bars, run_sma_cross

    bars = load_bars(path)
    config = VectorizedConfig()

    def timed() -> list[tuple[float, float]]:
        times = []
        for _ in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            run_sma_cross(bars, config, fast=10, slow=30)
            times.append((time.perf_counter() - wall, time.process_time() - cpu))
        return times

    times = timed()
    measurement.first, (measurement.best, measurement.cpu) = times[0][0], min(times)
    measurement.runs = repeats
    measurement.peak_rss_mb = _peak_rss_mb()
    # The allocator tuning sweep workers use, for a process that runs many backtests itself.
    keep_freed_memory()
    tuned = min(timed())
    measurement.notes = f"after keep_freed_memory(): best {tuned[0]:.3f} s, CPU {tuned[1]:.3f} s"
    run = run_sma_cross(bars, config, fast=10, slow=30)
    result = run.result
    measurement.trips = [(t.entry_ts, t.entry_price, t.exit_ts, t.exit_price) for t in result.trips]
    held = run.open_position
    measurement.open_entry = None if held is None else (held.entry_ts, held.entry_price)
    measurement.final_equity = result.final_equity
    return measurement


def _measure_sweep(path: Path, measurement: Measurement) -> Measurement:
    from tradeforge.backtest.vectorized import VectorizedConfig, load_bars, sma_cross_grid, sweep

    bars = load_bars(path)
    grid = sma_cross_grid(SWEEP_FAST, SWEEP_SLOW)
    config = VectorizedConfig()
    cpu_before = _cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN)
    with PssSampler() as sampler:
        started = time.perf_counter()
        rows = sweep(bars, grid, config, workers=SWEEP_WORKERS)
        seconds = time.perf_counter() - started
    cpu = _cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_before
    measurement.first = measurement.best = seconds
    measurement.cpu = cpu
    measurement.runs = 1
    best = max(rows, key=lambda row: row.final_equity)
    measurement.notes = (
        f"{len(rows)} parameter sets on {SWEEP_WORKERS} worker processes, {cpu:.2f} CPU s in all "
        f"({cpu / len(rows) * 1e3:.0f} ms a set, wall on idle cores >= {cpu / SWEEP_WORKERS:.2f} s); "
        f"peak RSS coordinator "
        f"{_peak_rss_mb():.0f} MB, largest worker {_peak_rss_mb(resource.RUSAGE_CHILDREN):.0f} MB "
        f"(mostly shared pages); all processes together {sampler.peak_kb / 1024:.0f} MB PSS; "
        f"best final equity {best.final_equity:,.2f} at {best.params}"
    )
    measurement.peak_rss_mb = sampler.peak_kb / 1024
    return measurement


# -- the table --------------------------------------------------------------------------------------


def _in_child(name: str, path: Path, repeats: int) -> Measurement:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measure, name, str(path), repeats).result()


def _in_pure_python(name: str, path: Path, repeats: int) -> Measurement | None:
    """`name` measured by the pure-Python build (TRADEFORGE_PURE_PYTHON: the dev environment's
    interpreter, set by `make bench`), for comparison with the compiled build running this module."""
    interpreter = os.environ.get(PURE_ENV)
    if not interpreter or not Path(interpreter).exists():
        return None
    script = (
        "import base64, pickle, sys\n"
        "from benchmarks.backtest_peers import _measure\n"
        f"m = _measure({name!r}, {str(path)!r}, {repeats})\n"
        "sys.stdout.write(base64.b64encode(pickle.dumps(m)).decode())\n"
    )
    done = subprocess.run(
        [interpreter, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False, timeout=600
    )
    if done.returncode != 0:
        measurement = Measurement(f"{name} (pure Python)")
        measurement.error = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        return measurement
    measurement = pickle.loads(base64.b64decode(done.stdout.strip().splitlines()[-1]))
    assert isinstance(measurement, Measurement)
    return measurement


def _agreement(ours: Measurement, theirs: Measurement) -> str:
    """ "yes" when every round trip (times and prices) and the final equity to the cent agree."""
    if theirs is ours:
        return "reference"
    if theirs.final_equity is None or ours.final_equity is None:
        return ""
    same_trips = theirs.trips == ours.trips and theirs.open_entry == ours.open_entry
    gap = abs(theirs.final_equity - ours.final_equity)
    if same_trips and gap < CENT / 2:
        return "yes"
    differing = sum(a != b for a, b in zip(theirs.trips, ours.trips, strict=False))
    differing += abs(len(theirs.trips) - len(ours.trips))
    return f"NO: {differing} trips, {gap:.2f}"


def _compiled() -> bool:
    """Whether this interpreter runs the mypyc-compiled build (ADR 7)."""
    import tradeforge.engine.order_manager as order_manager

    return not str(order_manager.__file__).endswith(".py")


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def main(workdir: Path) -> list[list[str]]:
    del workdir  # nothing to write
    path = YEAR if YEAR.exists() else SAMPLE
    slow = "--slow" in sys.argv or os.environ.get(SLOW_ENV) == "1"
    sets = len(SWEEP_FAST) * len(SWEEP_SLOW)
    plan: list[tuple[str, str, int]] = [
        ("vectorized", "TF vector", 3),
        ("sweep", f"TF sweep {sets}", 1),
        ("event-driven", "TF event" + (" (mypyc)" if _compiled() else ""), 1),
        ("vectorbt", "vectorbt", 3),
        ("backtesting.py", "bt.py", 1),
    ]
    if slow:
        plan.append(("backtrader", "backtrader", 1))
    console.print(f"backtest peers on {path.name}: SMA 10/30, quantity 1, fee 0.1 %, next-open fills")
    measured: dict[str, Measurement] = {}
    for name, _label, repeats in plan:
        console.print(f"  running {name} ...")
        measured[name] = _in_child(name, path, repeats)
    compiled = _compiled()
    pure = _in_pure_python("event-driven", path, 1) if compiled else None
    if pure is not None:
        console.print("  running event-driven on the pure-Python build ...")
        measured["event-driven (pure Python)"] = pure
        plan.insert(3, ("event-driven (pure Python)", "TF event (pure)", 1))
    ours = measured["vectorized"]
    rows: list[list[str]] = []
    notes: list[str] = []
    for name, label, repeats in plan:
        m = measured[name]
        peak = f"{m.peak_rss_mb:.0f}" if m.peak_rss_mb else ""
        if m.error is not None:
            rows.append([label, "", "", "", "", "error", peak])
            notes.append(f"{name}: {m.error}")
            continue
        if name == "sweep":
            rows.append([label, _seconds(m.best), _seconds(m.cpu), "", "", "", peak + " PSS"])
            notes.append(f"sweep: {m.notes}")
            continue
        if repeats > 1:
            notes.append(f"{name}: first run {_seconds(m.first)} s, best of {repeats} {_seconds(m.best)} s")
        if m.notes:
            notes.append(f"{name}: {m.notes}")
        agreement = _agreement(ours, m)
        if agreement.startswith("NO"):
            notes.append(f"{name} disagrees: {agreement}")
        trips = f"{len(m.trips):,}" + ("+1" if m.open_entry is not None else "")
        equity = f"{m.final_equity:.2f}" if m.final_equity is not None else ""
        rows.append([label, _seconds(m.best), _seconds(m.cpu), trips, equity, agreement[:3], peak])
    if not slow:
        rows.append(["backtrader", "skipped", "", "", "", "", ""])
        notes.append(f"backtrader (about 47 s) runs with --slow or {SLOW_ENV}=1")
    show(
        f"SMA 10/30 backtests, {path.name}",
        ["run", "wall s", "cpu s", "trips", "final equity", "same", "MB"],
        rows,
    )
    console.print("  same: all trips (times, prices) and final equity to the cent as TF vector")
    console.print("  trips: closed round trips, +1: a position open at the end (marked at the close)")
    for note in notes:
        console.print(f"  {note}")
    return rows
