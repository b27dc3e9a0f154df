"""Parameter optimization: grid and Optuna search of a strategy's config by one objective, on all cores."""

# An Evaluator runs one parameter set over a slice of bars (event-driven engine or vectorized
# kernel); a TrialPool runs evaluations in worker processes that receive the bars once; the searches
# decide what to evaluate and rank the outcomes. Only the parent process talks to Optuna and its
# storage, so a study in PostgreSQL is shared by several machines and no worker opens a connection.

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from types import TracebackType
from typing import Any, Protocol

from tradeforge.backtest.config import BacktestConfig
from tradeforge.backtest.feed import BarColumns, FloatArray
from tradeforge.backtest.metrics import Metrics
from tradeforge.backtest.report import to_jsonable
from tradeforge.backtest.search_space import (
    Objective,
    SearchSettings,
    SearchSpace,
    StudyInfo,
    optuna_study,
    record_trial,
    study_info,
)
from tradeforge.domain.errors import TradeForgeError, ValidationError
from tradeforge.domain.values import decimal_str
from tradeforge.strategies import registry
from tradeforge.strategies.base import build_config

Advance = Callable[[int], None]
# What a strategy or config refusing a parameter set raises; anything else is a bug and propagates.
REFUSALS = (TradeForgeError, ValueError, ArithmeticError)
TABLE_METRICS = ("total_return", "sharpe", "max_drawdown", "trade_count")


# --- evaluators --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Evaluation:
    """One parameter set's outcome on one slice of bars (the equity curve only when asked for)."""

    metrics: Metrics
    final_equity: Decimal
    orders: int
    equity: FloatArray | None = None


class Evaluator(Protocol):
    """Runs one parameter set over bars. Must pickle (spawn) and raise a REFUSALS error when the
    strategy or its config refuses the parameters."""

    @property
    def engine(self) -> str: ...

    def evaluate(
        self, bars: BarColumns, params: Mapping[str, Any], *, keep_equity: bool = False
    ) -> Evaluation: ...


@dataclass(frozen=True, slots=True)
class EventEvaluator:
    """The event-driven engine (run_backtest): every strategy, every fill rule of the config."""

    config: BacktestConfig

    @property
    def engine(self) -> str:
        return "event"

    def evaluate(
        self, bars: BarColumns, params: Mapping[str, Any], *, keep_equity: bool = False
    ) -> Evaluation:
        from tradeforge.backtest.engine import run_backtest

        with _quiet_strategy_failures():
            run = run_backtest(replace(self.config, params=dict(params)), bars)
        result = run.result
        return Evaluation(
            result.metrics, result.final_equity, result.orders, run.equity if keep_equity else None
        )


# Strategies whose signals the vectorized kernel computes: name -> module:function(bars, config, **params).
VECTORIZED_SIGNALS = {"sma_cross": "tradeforge.backtest.vectorized:sma_cross_signals"}


@dataclass(frozen=True, slots=True)
class VectorizedEvaluator:
    """The vectorized kernel: long-only signal strategies with a fixed `quantity` field, market
    orders at the next open, fees and fixed slippage; no risk checks, and a buy the cash cannot pay
    raises (the kernel never resizes an order) where the event engine would refuse it."""

    strategy: str
    cash: Decimal
    fee_rate: Decimal
    slippage_bps: Decimal
    tick_size: Decimal

    @property
    def engine(self) -> str:
        return "vectorized"

    def evaluate(
        self, bars: BarColumns, params: Mapping[str, Any], *, keep_equity: bool = False
    ) -> Evaluation:
        import importlib

        from tradeforge.backtest import vectorized as vz

        module, _, function = VECTORIZED_SIGNALS[self.strategy].partition(":")
        signal = getattr(importlib.import_module(module), function)
        config = build_config(registry.resolve(self.strategy).config_class, params)
        values = {name: getattr(config, name) for name in config.__dataclass_fields__}
        setup = vz.VectorizedConfig(
            symbol=bars.symbol,
            cash=self.cash,
            quantity=Decimal(values.pop("quantity")),
            fee_rate=self.fee_rate,
            slippage_bps=self.slippage_bps,
            tick_size=self.tick_size,
        )
        arrays = vz.BarArrays.from_columns(bars)
        if keep_equity:
            run = vz.run_signals(arrays, signal(arrays, setup, **values), setup)
            return Evaluation(run.result.metrics, run.result.final_equity, run.result.orders, run.equity)
        row = vz.evaluate(arrays, setup, values, signal)
        return Evaluation(row.metrics, row.final_equity, row.orders)


def make_evaluator(engine: str, config: BacktestConfig, symbol: str) -> Evaluator:
    """The evaluator for `engine` (event or vectorized) running `config`'s strategy and money rules."""
    if engine == "event":
        return EventEvaluator(config)
    if engine != "vectorized":
        raise ValidationError("engine", f"expected event or vectorized, got {engine!r}")
    if config.strategy not in VECTORIZED_SIGNALS:
        raise ValidationError(
            "engine", f"{config.strategy} has no vectorized form; vectorized: {sorted(VECTORIZED_SIGNALS)}"
        )
    if config.slippage == "volume" or config.max_volume_share is not None or config.maker != config.taker:
        raise ValidationError("engine", "vectorized runs one fee rate and fixed slippage only")
    from tradeforge.runtime.settings import default_instruments

    ticks = {item.symbol: item.tick_size for item in default_instruments()}
    tick = config.tick_size or ticks.get(symbol, Decimal("0.01"))
    return VectorizedEvaluator(config.strategy, config.cash, config.taker, config.slippage_bps, tick)


@contextmanager
def _quiet_strategy_failures() -> Iterator[None]:
    """A refused parameter set fails its strategy, which the runner logs with a traceback: the
    optimizer reports the reason itself, so one bad corner of a grid does not flood stderr."""
    logger = logging.getLogger("tradeforge.strategies.runner")
    before = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = before


# --- trial pool --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Task:
    """Evaluate `params` over bars[first:stop]."""

    params: Mapping[str, Any]
    first: int
    stop: int
    keep_equity: bool = False


Outcome = Evaluation | str  # a string says why the parameters were refused


def run_task(evaluator: Evaluator, bars: BarColumns, task: Task) -> Outcome:
    try:
        return evaluator.evaluate(
            bars.slice(task.first, task.stop), task.params, keep_equity=task.keep_equity
        )
    except REFUSALS as error:
        return f"{type(error).__name__}: {error}"


_worker: tuple[Evaluator, BarColumns] | None = None  # set once per worker process by _start_worker


def _start_worker(evaluator: Evaluator, bars: BarColumns) -> None:
    global _worker
    _worker = (evaluator, bars)


def _run_in_worker(task: Task) -> Outcome:
    if _worker is None:
        raise RuntimeError("optimizer worker was not initialized")
    return run_task(_worker[0], _worker[1], task)


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class TrialPool:
    """Evaluations over `bars`, in `workers` processes (default: every core; 1 = in this process).

    Processes are forked where possible, so they share the parent's bars and imported modules
    (copy-on-write); with spawn each unpickles the bars once. `limit` caps the processes at the
    number of evaluations that can run at once."""

    def __init__(
        self,
        evaluator: Evaluator,
        bars: BarColumns,
        workers: int | None = None,
        *,
        limit: int | None = None,
    ) -> None:
        count = available_cores() if workers is None else workers
        if count < 1:
            raise ValidationError("workers", "must be at least 1")
        self.evaluator = evaluator
        self.bars = bars
        self.workers = max(1, min(count, limit)) if limit is not None else count
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> TrialPool:
        if self.workers > 1:
            # Load the engine's lazily imported modules before forking, so no worker repeats it.
            run_task(self.evaluator, self.bars, Task({}, 0, min(len(self.bars), 64)))
            fork = "fork" in multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if fork else "spawn")
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(self.evaluator, self.bars),
            )
            # Start the processes now, before the caller starts threads (progress bar, database).
            self._executor.submit(os.getpid).result()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def submit(self, task: Task) -> Future[Outcome]:
        if self._executor is not None:
            return self._executor.submit(_run_in_worker, task)
        future: Future[Outcome] = Future()
        future.set_result(run_task(self.evaluator, self.bars, task))
        return future


# --- results -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TrialResult:
    """One parameter set: its objective value, or why it has none (state undefined: the metric is
    undefined for this run; skipped: the strategy or its config refused the parameters)."""

    number: int
    params: Mapping[str, Any]
    value: float | None
    evaluation: Evaluation | None
    error: str | None = None

    @property
    def state(self) -> str:
        if self.evaluation is None:
            return "skipped"
        return "complete" if self.value is not None else "undefined"

    def to_dict(self) -> dict[str, Any]:
        evaluation = self.evaluation
        return {
            "number": self.number,
            "state": self.state,
            "params": to_jsonable(dict(self.params)),
            "value": self.value,
            "final_equity": decimal_str(evaluation.final_equity) if evaluation else None,
            "orders": evaluation.orders if evaluation else None,
            "metrics": evaluation.metrics.to_dict() if evaluation else None,
            "error": self.error,
        }


def rank(trials: list[TrialResult], objective: Objective) -> list[TrialResult]:
    """Best first; undefined values after every number, skipped trials last, ties by trial number."""

    def key(trial: TrialResult) -> tuple[int, float, int]:
        if trial.value is None:
            return (1 if trial.evaluation is not None else 2, 0.0, trial.number)
        return (0, -trial.value if objective.maximize else trial.value, trial.number)

    return sorted(trials, key=key)


@dataclass(frozen=True, slots=True)
class OptimizationResult:
    """This run's trials, best first. With a stored study, best_params/best_value are the study's
    (possibly another machine's trial); without one, this run's best."""

    method: str
    objective: Objective
    engine: str
    bars: int
    trials: tuple[TrialResult, ...]
    elapsed_seconds: float
    study: StudyInfo | None = None

    @property
    def best(self) -> TrialResult | None:
        return self.trials[0] if self.trials and self.trials[0].value is not None else None

    @property
    def best_params(self) -> Mapping[str, Any] | None:
        if self.study is not None:
            return self.study.best_params
        return self.best.params if self.best else None

    @property
    def best_value(self) -> float | None:
        if self.study is not None:
            return self.study.best_value
        return self.best.value if self.best else None

    @property
    def skipped(self) -> list[TrialResult]:
        return [trial for trial in self.trials if trial.state == "skipped"]

    def _best_metrics(self) -> Mapping[str, Any] | None:
        """This run's best's metrics; for a study whose best came from another run, the key metrics
        that run stored with it."""
        study, best = self.study, self.best
        if study is not None and (best is None or best.number != study.best_number):
            return study.best_metrics
        return best.to_dict()["metrics"] if best else None

    def to_dict(self) -> dict[str, Any]:
        study = self.study
        return {
            "method": self.method,
            "engine": self.engine,
            "objective": self.objective.name,
            "direction": self.objective.direction,
            "bars": self.bars,
            "best_params": to_jsonable(dict(self.best_params)) if self.best_params is not None else None,
            "best_value": self.best_value,
            "best_metrics": self._best_metrics(),
            "trial_count": len(self.trials),
            "skipped_count": len(self.skipped),
            "elapsed_seconds": self.elapsed_seconds,
            "study": None if study is None else to_jsonable(dataclasses.asdict(study)),
            "trials": [trial.to_dict() for trial in self.trials],
        }


# --- searches ----------------------------------------------------------------------------------
def optimize(
    evaluator: Evaluator,
    bars: BarColumns,
    space: SearchSpace,
    objective: Objective,
    search: SearchSettings | None = None,
    *,
    advance: Advance | None = None,
) -> OptimizationResult:
    """Search `space` over all of `bars` and rank the trials by `objective`."""
    settings = search or SearchSettings()
    if settings.method == "grid":
        space.grid()  # a continuous range or an oversized grid fails before any process starts
    with TrialPool(evaluator, bars, settings.workers, limit=settings.planned(space)) as pool:
        return search_window(pool, space, objective, settings, 0, len(bars), advance)


def search_window(
    pool: TrialPool,
    space: SearchSpace,
    objective: Objective,
    search: SearchSettings,
    first: int,
    stop: int,
    advance: Advance | None = None,
    study_name: str | None = None,
) -> OptimizationResult:
    """One search over bars[first:stop] with a running pool (walk-forward calls it per window)."""
    started = time.perf_counter()
    step = advance or (lambda n: None)
    study: StudyInfo | None = None
    if search.method == "grid":
        trials = _grid(pool, space, objective, first, stop, step)
    else:
        trials, study = _optuna(
            pool, space, objective, search, first, stop, step, study_name or search.study_name
        )
    return OptimizationResult(
        search.method,
        objective,
        pool.evaluator.engine,
        stop - first,
        tuple(rank(trials, objective)),
        time.perf_counter() - started,
        study,
    )


def trial_result(
    number: int, params: Mapping[str, Any], outcome: Outcome, objective: Objective
) -> TrialResult:
    if isinstance(outcome, str):
        return TrialResult(number, params, None, None, outcome)
    return TrialResult(number, params, objective.value(outcome.metrics, outcome.final_equity), outcome)


def _grid(
    pool: TrialPool, space: SearchSpace, objective: Objective, first: int, stop: int, advance: Advance
) -> list[TrialResult]:
    combos = space.grid()
    pending: list[Future[Outcome] | str] = []
    for params in combos:
        refusal = space.check(params)
        pending.append(refusal if refusal is not None else pool.submit(Task(params, first, stop)))
    results = []
    for number, (params, item) in enumerate(zip(combos, pending, strict=True)):
        results.append(
            trial_result(number, params, item if isinstance(item, str) else item.result(), objective)
        )
        advance(1)
    return results


def _optuna(
    pool: TrialPool,
    space: SearchSpace,
    objective: Objective,
    search: SearchSettings,
    first: int,
    stop: int,
    advance: Advance,
    study_name: str | None,
) -> tuple[list[TrialResult], StudyInfo | None]:
    results: list[TrialResult] = []
    with optuna_study(space, objective, search.seed, search.storage, study_name) as study:
        # TPE proposes repeats in small discrete spaces: the outcome of a parameter set is reused.
        seen: dict[str, Outcome] = {}
        while len(results) < search.trials:
            batch = [study.ask() for _ in range(min(pool.workers, search.trials - len(results)))]
            picks = [space.suggest(trial) for trial in batch]
            running: dict[str, Future[Outcome]] = {}
            for params in picks:
                key = _key(params)
                if key in seen or key in running:
                    continue
                refusal = space.check(params)
                if refusal is not None:
                    seen[key] = refusal
                else:
                    running[key] = pool.submit(Task(params, first, stop))
            for key, future in running.items():
                seen[key] = future.result()
            for trial, params in zip(batch, picks, strict=True):
                result = trial_result(trial.number, params, seen[_key(params)], objective)
                record_trial(study, trial, result.value, _attributes(result))
                results.append(result)
                advance(1)
        return results, None if search.storage is None else study_info(study, study_name or "")


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(to_jsonable(dict(params)), sort_keys=True)


def _attributes(result: TrialResult) -> dict[str, Any]:
    """What a stored trial keeps besides Optuna's own params: every machine's report shows it."""
    attributes: dict[str, Any] = {"params": to_jsonable(dict(result.params)), "state": result.state}
    if result.error is not None:
        attributes["error"] = result.error[:500]
    if result.evaluation is not None:
        metrics = result.evaluation.metrics
        summary = {name: getattr(metrics, name) for name in TABLE_METRICS}
        summary["final_equity"] = decimal_str(result.evaluation.final_equity)
        attributes["metrics"] = summary
    return attributes
