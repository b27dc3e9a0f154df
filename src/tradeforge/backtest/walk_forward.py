"""Walk-forward evaluation: optimize on rolling in-sample windows, run each winner on the bars after it."""

# Window k (rolling): in-sample [start + k*step, start + k*step + train), out-of-sample the `test`
# that follows; anchored: in-sample always starts at the first bar and grows. Lengths are bar counts
# or durations (30d, 12h, 90m, 2w) measured on the bars' timestamps, so gaps in the data do not shift
# later windows. Only windows whose whole test span lies inside the data run. step >= test, so no
# bar is out-of-sample twice; each out-of-sample run starts flat with the starting cash, uses only
# its window's in-sample best parameters, and the runs are chained (compounded) into one curve.

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

import numpy as np

from tradeforge.backtest.feed import BarColumns, FloatArray, IntArray
from tradeforge.backtest.metrics import Metrics, compute_metrics
from tradeforge.backtest.optimize import (
    Advance,
    Evaluator,
    OptimizationResult,
    Task,
    TrialPool,
    TrialResult,
    search_window,
    trial_result,
)
from tradeforge.backtest.report import to_jsonable
from tradeforge.backtest.search_space import Objective, SearchSettings, SearchSpace
from tradeforge.backtest.trades import PRECISION
from tradeforge.domain.data import TIMEFRAME_MS
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.values import ZERO

_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_SPAN = re.compile(r"^\s*(\d+)\s*(bars?|[mhdw])?\s*$")


@dataclass(frozen=True, slots=True)
class Span:
    """A window length: `bars` bars, or `ms` milliseconds of bar timestamps."""

    bars: int | None = None
    ms: int | None = None

    @classmethod
    def parse(cls, text: str, field: str) -> Span:
        """`5000` or `5000bars` (bars), `90m`, `12h`, `30d`, `2w` (a duration)."""
        match = _SPAN.match(text)
        if match is None or int(match.group(1)) <= 0:
            raise ValidationError(
                field, f"{text!r}: expected a positive bar count (5000) or a duration (30d, 12h, 90m, 2w)"
            )
        count, unit = int(match.group(1)), match.group(2)
        if unit is None or unit.startswith("bar"):
            return cls(bars=count)
        return cls(ms=count * _UNIT_MS[unit])

    @property
    def size(self) -> int:
        return self.bars if self.bars is not None else self.ms or 0

    def __str__(self) -> str:
        if self.bars is not None:
            return f"{self.bars} bars"
        for unit in ("w", "d", "h", "m"):
            if self.size % _UNIT_MS[unit] == 0:
                return f"{self.size // _UNIT_MS[unit]}{unit}"
        return f"{self.size} ms"


@dataclass(frozen=True, slots=True)
class Window:
    """Bar index ranges [first, stop) of one window's in-sample and out-of-sample parts."""

    index: int
    train_first: int
    train_stop: int
    test_first: int
    test_stop: int


@dataclass(frozen=True, slots=True)
class WalkForwardPlan:
    train: Span
    test: Span
    step: Span | None = None  # default: the test length (back-to-back out-of-sample windows)
    anchored: bool = False

    def __post_init__(self) -> None:
        spans = [self.train, self.test, self.stride]
        if any(span.size <= 0 for span in spans):
            raise ValidationError("walk_forward", "train, test and step must be positive")
        if len({span.bars is None for span in spans}) > 1:
            raise ValidationError(
                "walk_forward", "give train, test and step all as bar counts or all as durations"
            )
        if self.stride.size < self.test.size:
            raise ValidationError(
                "step",
                f"{self.stride} is shorter than the test ({self.test}): out-of-sample bars would repeat",
            )

    @property
    def stride(self) -> Span:
        return self.step or self.test

    def windows(self, bars: BarColumns) -> list[Window]:
        """Every window whose test part lies wholly inside `bars` (none may be empty)."""
        ts = bars.ts
        if len(ts) == 0:
            return []
        if self.train.bars is not None:
            positions: IntArray = np.arange(len(ts) + 1, dtype=np.int64)
            origin, end = 0, len(ts)
        else:
            # A duration is measured on timestamps: window edges are times, found among the bars.
            positions = np.append(ts, ts[-1] + TIMEFRAME_MS[bars.timeframe])
            origin, end = int(ts[0]), int(positions[-1])
        result: list[Window] = []
        k = 0
        while True:
            start = origin + k * self.stride.size
            split = start + self.train.size
            finish = split + self.test.size
            if finish > end:
                return result
            edges = np.searchsorted(positions, [origin if self.anchored else start, split, finish]).tolist()
            if edges[0] < edges[1] < edges[2]:
                result.append(Window(len(result), edges[0], edges[1], edges[1], edges[2]))
            k += 1


@dataclass(frozen=True, slots=True)
class WindowResult:
    """One window: its in-sample search and the in-sample best run out of sample (None when the
    in-sample search found no trial with a defined objective)."""

    window: Window
    span_ts: tuple[int, int, int, int]  # first and last bar open time of the in-sample and the test part
    search: OptimizationResult
    oos: TrialResult | None
    equity_start: float
    equity_end: float

    def to_dict(self) -> dict[str, Any]:
        w, best, oos, params = self.window, self.search.best, self.oos, self.search.best_params
        return {
            "index": w.index,
            "train": {
                "first": w.train_first,
                "stop": w.train_stop,
                "start_ts": self.span_ts[0],
                "end_ts": self.span_ts[1],
            },
            "test": {
                "first": w.test_first,
                "stop": w.test_stop,
                "start_ts": self.span_ts[2],
                "end_ts": self.span_ts[3],
            },
            "best_params": None if params is None else to_jsonable(dict(params)),
            "in_sample": {
                "value": self.search.best_value,
                "metrics": best.evaluation.metrics.to_dict() if best and best.evaluation else None,
                "trials": len(self.search.trials),
                "skipped": len(self.search.skipped),
            },
            "out_of_sample": None
            if oos is None
            else {k: oos.to_dict()[k] for k in ("value", "final_equity", "metrics", "error")},
            "stitched_equity_start": self.equity_start,
            "stitched_equity_end": self.equity_end,
        }


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    """Every window, and the out-of-sample runs chained into one equity curve (`equity` per test bar,
    at `timestamps`) with its metrics: curve metrics of the chained curve, trade statistics summed
    over the windows' round trips."""

    plan: WalkForwardPlan
    objective: Objective
    windows: tuple[WindowResult, ...]
    timestamps: IntArray
    equity: FloatArray
    stitched: Metrics
    elapsed_seconds: float

    @property
    def last_best_params(self) -> dict[str, Any] | None:
        """The latest window's in-sample best: the parameters to trade next."""
        params = self.windows[-1].search.best_params if self.windows else None
        return dict(params) if params is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "anchored": self.plan.anchored,
            "train": str(self.plan.train),
            "test": str(self.plan.test),
            "step": str(self.plan.stride),
            "windows": [window.to_dict() for window in self.windows],
            "stitched": {
                "bars": int(self.equity.size),
                "start_equity": float(self.equity[0]) if self.equity.size else None,
                "final_equity": float(self.equity[-1]) if self.equity.size else None,
                **self.stitched.to_dict(),
            },
        }


def planned_steps(plan: WalkForwardPlan, bars: BarColumns, space: SearchSpace, search: SearchSettings) -> int:
    """Progress units of a walk-forward run: every in-sample trial plus one out-of-sample run per window."""
    return len(plan.windows(bars)) * (search.planned(space) + 1)


def walk_forward(
    evaluator: Evaluator,
    bars: BarColumns,
    space: SearchSpace,
    objective: Objective,
    plan: WalkForwardPlan,
    search: SearchSettings | None = None,
    *,
    cash: Decimal,
    advance: Advance | None = None,
) -> WalkForwardResult:
    """Optimize each window's in-sample bars and run its best parameters on its test bars. With a
    stored study, window k uses the study `<study_name>.w<k>`. `cash` is what each run starts with."""
    settings = search or SearchSettings()
    step = advance or (lambda n: None)
    windows = plan.windows(bars)
    if not windows:
        raise ValidationError(
            "walk_forward", f"{len(bars)} bars hold no whole window of train {plan.train} + test {plan.test}"
        )
    if settings.method == "grid":
        space.grid()
    started = time.perf_counter()
    results: list[WindowResult] = []
    pieces: list[FloatArray] = []
    level = float(cash)
    with TrialPool(evaluator, bars, settings.workers, limit=settings.planned(space)) as pool:
        for window in windows:
            name = f"{settings.study_name}.w{window.index}" if settings.study_name else None
            found = search_window(
                pool, space, objective, settings, window.train_first, window.train_stop, step, name
            )
            oos = None
            if found.best_params is not None:
                task = Task(dict(found.best_params), window.test_first, window.test_stop, keep_equity=True)
                oos = trial_result(window.index, task.params, pool.submit(task).result(), objective)
            step(1)
            before = level
            curve = _chained(oos, window.test_stop - window.test_first, float(cash), before)
            level = float(curve[-1])
            pieces.append(curve)
            results.append(WindowResult(window, _span_ts(bars, window), found, oos, before, level))
    timestamps = np.concatenate([bars.ts[w.test_first : w.test_stop] for w in windows])
    equity = np.concatenate(pieces)
    return WalkForwardResult(
        plan,
        objective,
        tuple(results),
        timestamps,
        equity,
        _stitched(equity, timestamps, results),
        time.perf_counter() - started,
    )


def _span_ts(bars: BarColumns, window: Window) -> tuple[int, int, int, int]:
    ts = bars.ts
    first, last = (
        ts[[window.train_first, window.test_first]],
        ts[[window.train_stop - 1, window.test_stop - 1]],
    )
    return int(first[0]), int(last[0]), int(first[1]), int(last[1])


def _chained(oos: TrialResult | None, size: int, cash: float, level: float) -> FloatArray:
    """This window's test equity rescaled to continue from `level` (flat when nothing ran)."""
    equity = oos.evaluation.equity if oos is not None and oos.evaluation is not None else None
    if equity is None:
        return np.full(size, level, dtype=np.float64)
    scaled: FloatArray = equity * (level / cash)
    return scaled


def _stitched(equity: FloatArray, timestamps: IntArray, windows: list[WindowResult]) -> Metrics:
    runs = [w.oos.evaluation.metrics for w in windows if w.oos is not None and w.oos.evaluation is not None]
    fees = sum((m.fees_paid for m in runs), ZERO)
    exposed = sum(round((m.exposure or 0.0) * m.bars) for m in runs)
    curve = compute_metrics(equity, timestamps, (), fees, min(exposed, int(equity.size)))
    count = sum(m.trade_count for m in runs)
    profit = sum((m.gross_profit for m in runs), ZERO)
    loss = sum((m.gross_loss for m in runs), ZERO)
    return dataclasses.replace(
        curve,
        trade_count=count,
        winning_trades=sum(m.winning_trades for m in runs),
        losing_trades=sum(m.losing_trades for m in runs),
        win_rate=sum(m.winning_trades for m in runs) / count if count else None,
        profit_factor=float(profit / loss) if loss > 0 else None,
        expectancy=_mean(profit - loss, count),
        gross_profit=profit,
        gross_loss=loss,
    )


def _mean(total: Decimal, count: int) -> Decimal | None:
    with localcontext() as context:
        context.prec = PRECISION
        return total / count if count else None
