"""Grid and Optuna search and walk-forward on real BTC/USDT minutes: the optimizer reports the numbers
run_backtest gives for the same parameters, in parallel as in sequence, reproducibly for a seed."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import os
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tradeforge.backtest.config import BacktestConfig
from tradeforge.backtest.engine import run_backtest
from tradeforge.backtest.feed import BarColumns
from tradeforge.backtest.optimize import (
    EventEvaluator,
    OptimizationResult,
    TrialResult,
    make_evaluator,
    optimize,
)
from tradeforge.backtest.search_space import Objective, SearchSettings, SearchSpace
from tradeforge.backtest.walk_forward import Span, WalkForwardPlan, walk_forward
from tradeforge.strategies.builtin.rsi_reversion import RsiReversionConfig
from tradeforge.strategies.builtin.sma_cross import SmaCrossConfig

BTC_YEAR = Path("/work/shared/data/binance_spot_1m/BTCUSDT_1m_2025.parquet")
# Enough cash that quantity 1 is never refused by the balance check (the vectorized kernel has none).
CONFIG = BacktestConfig(strategy="sma_cross", cash=Decimal("10000000"))
SHARPE = Objective.parse("sharpe")


@functools.cache
def year() -> BarColumns:
    if not BTC_YEAR.exists():
        message = f"{BTC_YEAR} is missing (shared/data sits beside the repository)"
        if os.environ.get("TRADEFORGE_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return BarColumns.from_file(BTC_YEAR, "BTC/USDT", "1m")


def bars(first: int, stop: int) -> BarColumns:
    return year().slice(first, stop)


def space(*specs: str) -> SearchSpace:
    return SearchSpace.parse("sma_cross", SmaCrossConfig, specs)


def outcome(trial: TrialResult) -> tuple[object, ...]:
    """Everything a trial reports, for comparing two runs."""
    evaluation = trial.evaluation
    if evaluation is None:
        return (trial.number, dict(trial.params), trial.error)
    return (trial.number, dict(trial.params), trial.value, evaluation.metrics, evaluation.final_equity)


# February 2025, 8,000 minutes: the (10, 10) and (15, 10) corners are refused by the crossover.
GRID = ("fast=5:15:5", "slow=10,30,60", "quantity=1")


@functools.cache
def grid_run(workers: int) -> OptimizationResult:
    return optimize(
        EventEvaluator(CONFIG), bars(44_640, 52_640), space(*GRID), SHARPE, SearchSettings(workers=workers)
    )


def test_grid_reports_exactly_what_run_backtest_gives_for_each_parameter_set() -> None:
    result = grid_run(1)
    assert len(result.trials) == 9 and result.bars == 8_000
    skipped = {(t.params["fast"], t.params["slow"]) for t in result.skipped}
    assert skipped == {(10, 10), (15, 10)}
    assert all("must be shorter than slow" in (t.error or "") for t in result.skipped)
    complete = [t for t in result.trials if t.state == "complete"]
    assert len(complete) == 7
    for trial in complete:
        assert trial.evaluation is not None
        direct = run_backtest(
            dataclasses.replace(CONFIG, params=dict(trial.params)), bars(44_640, 52_640)
        ).result
        assert trial.evaluation.metrics == direct.metrics
        assert trial.evaluation.final_equity == direct.final_equity
        assert trial.evaluation.orders == direct.orders
        assert trial.value == direct.metrics.sharpe
        assert direct.metrics.trade_count > 0
    values = [t.value for t in complete if t.value is not None]
    assert len(values) == 7 and values == sorted(values, reverse=True), "ranked best first"
    assert result.trials[-2:] == tuple(t for t in result.trials if t.state == "skipped")
    assert result.best is complete[0] and result.best_params == complete[0].params


def test_the_parallel_grid_equals_the_sequential_grid() -> None:
    assert [outcome(t) for t in grid_run(2).trials] == [outcome(t) for t in grid_run(1).trials]


def test_minimized_and_negated_objectives_rank_the_same_runs_the_other_way_round() -> None:
    trials = list(grid_run(1).trials)
    from tradeforge.backtest.optimize import rank

    def drawdowns(objective: str) -> list[float | None]:
        goal = Objective.parse(objective)
        rescored = [
            dataclasses.replace(t, value=goal.value(t.evaluation.metrics, t.evaluation.final_equity))
            if t.evaluation
            else t
            for t in trials
        ]
        return [t.evaluation.metrics.max_drawdown for t in rank(rescored, goal) if t.evaluation]

    smallest_first = drawdowns("max_drawdown")
    assert smallest_first == sorted(smallest_first)  # type: ignore[type-var]
    assert drawdowns("-max_drawdown") == smallest_first


def test_an_undefined_objective_ranks_after_every_number_and_before_refusals() -> None:
    # slow=9000 never warms up on 8,000 bars: no trade, flat equity, no Sharpe ratio.
    result = optimize(
        EventEvaluator(CONFIG),
        bars(44_640, 52_640),
        space("fast=10,20", "slow=9000,30"),
        SHARPE,
        SearchSettings(workers=1),
    )
    states = [t.state for t in result.trials]
    assert states == ["complete", "complete", "undefined", "undefined"]
    assert result.trials[2].evaluation is not None and result.trials[2].evaluation.metrics.trade_count == 0


def test_the_vectorized_engine_reports_the_event_driven_trades_and_equity() -> None:
    vectorized = optimize(
        make_evaluator("vectorized", CONFIG, "BTC/USDT"),
        bars(44_640, 52_640),
        space(*GRID),
        SHARPE,
        SearchSettings(workers=1),
    )
    assert vectorized.engine == "vectorized"
    event = {(t.params["fast"], t.params["slow"]): t for t in grid_run(1).trials}
    for trial in vectorized.trials:
        twin = event[(trial.params["fast"], trial.params["slow"])]
        assert trial.state == twin.state
        if trial.evaluation is None or twin.evaluation is None:
            continue
        assert trial.evaluation.final_equity == twin.evaluation.final_equity
        assert trial.evaluation.metrics.trade_count == twin.evaluation.metrics.trade_count
        assert trial.value == pytest.approx(twin.value, rel=1e-9)


OPTUNA_SPACE = ("fast=2:30", "slow=10:120:5", "quantity=1")


def optuna_run(seed: int, workers: int) -> OptimizationResult:
    settings = SearchSettings(method="optuna", trials=14, seed=seed, workers=workers)
    return optimize(EventEvaluator(CONFIG), bars(100_000, 105_000), space(*OPTUNA_SPACE), SHARPE, settings)


def test_optuna_with_a_seed_repeats_itself_and_reports_true_numbers() -> None:
    first, again = optuna_run(7, 1), optuna_run(7, 1)
    assert [outcome(t) for t in first.trials] == [outcome(t) for t in again.trials]
    assert first.best_params == again.best_params and first.best_value == again.best_value
    assert len(first.trials) == 14 and first.best is not None
    # Trials where fast >= slow are refused and told to Optuna as failed, not crashed.
    for trial in first.trials:
        assert (trial.state == "skipped") == (trial.params["fast"] >= trial.params["slow"])
    direct = run_backtest(dataclasses.replace(CONFIG, params=dict(first.best.params)), bars(100_000, 105_000))
    assert first.best_value == direct.result.metrics.sharpe
    other = optuna_run(8, 1)
    assert [t.params for t in other.trials] != [t.params for t in first.trials]


def test_parallel_optuna_batches_are_reproducible_for_a_seed_and_worker_count() -> None:
    first, again = optuna_run(7, 2), optuna_run(7, 2)
    assert [outcome(t) for t in first.trials] == [outcome(t) for t in again.trials]
    assert first.best_params == again.best_params


def test_refusals_from_the_config_class_are_skipped_before_any_run() -> None:
    result = optimize(
        EventEvaluator(dataclasses.replace(CONFIG, strategy="rsi_reversion")),
        bars(0, 3_000),
        SearchSpace.parse("rsi_reversion", RsiReversionConfig, ["oversold=25,75", "quantity=1"]),
        SHARPE,
        SearchSettings(workers=1),
    )
    refused = [t for t in result.trials if t.params["oversold"] == 75]
    assert [t.state for t in refused] == ["skipped"]
    assert refused[0].error is not None and "overbought" in refused[0].error


def test_walk_forward_runs_each_in_sample_best_only_on_the_bars_after_it() -> None:
    data = bars(200_000, 212_000)
    plan = WalkForwardPlan(Span(bars=4_000), Span(bars=2_000))
    wf = walk_forward(
        EventEvaluator(CONFIG),
        data,
        space("fast=5,15", "slow=30,90", "quantity=1"),
        SHARPE,
        plan,
        SearchSettings(workers=2),
        cash=CONFIG.cash,
    )
    windows = wf.windows
    assert [(w.window.train_first, w.window.test_first, w.window.test_stop) for w in windows] == [
        (0, 4_000, 6_000),
        (2_000, 6_000, 8_000),
        (4_000, 8_000, 10_000),
        (6_000, 10_000, 12_000),
    ]
    for earlier, later in itertools.pairwise(windows):
        assert earlier.window.test_stop <= later.window.test_first, "out-of-sample parts never overlap"
    for window in windows:
        w = window.window
        assert w.train_stop == w.test_first
        # The in-sample search is the one a plain optimize over the in-sample bars gives ...
        alone = optimize(
            EventEvaluator(CONFIG),
            data.slice(w.train_first, w.train_stop),
            space("fast=5,15", "slow=30,90", "quantity=1"),
            SHARPE,
            SearchSettings(workers=1),
        )
        assert window.search.best_params == alone.best_params
        assert window.search.best_value == alone.best_value
        # ... and out of sample only those parameters run, only over the test bars.
        assert window.oos is not None and window.oos.params == alone.best_params
        direct = run_backtest(
            dataclasses.replace(CONFIG, params=dict(alone.best_params or {})),
            data.slice(w.test_first, w.test_stop),
        ).result
        assert window.oos.evaluation is not None and window.oos.evaluation.metrics == direct.metrics
        assert window.oos.value == direct.metrics.sharpe
    # The out-of-sample runs chain (compound) into one curve over every test bar.
    assert wf.equity.size == 8_000 and np.array_equal(wf.timestamps, data.ts[4_000:12_000])
    returns = [w.oos.evaluation.metrics.total_return for w in windows if w.oos and w.oos.evaluation]
    chained = math.prod(1.0 + (r or 0.0) for r in returns) - 1.0
    assert wf.stitched.total_return == pytest.approx(chained, rel=1e-9, abs=1e-12)
    assert wf.stitched.trade_count == sum(
        w.oos.evaluation.metrics.trade_count for w in windows if w.oos and w.oos.evaluation
    )
    assert wf.last_best_params == windows[-1].search.best_params


def test_anchored_walk_forward_by_duration_grows_the_in_sample_window() -> None:
    data = bars(0, 7 * 1_440)  # the first week of 2025
    plan = WalkForwardPlan(Span.parse("3d", "train"), Span.parse("1d", "test"), anchored=True)
    wf = walk_forward(
        make_evaluator("vectorized", CONFIG, "BTC/USDT"),
        data,
        space("fast=5,10", "slow=30", "quantity=1"),
        SHARPE,
        plan,
        SearchSettings(workers=1),
        cash=CONFIG.cash,
    )
    day = 1_440
    assert [(w.window.train_first, w.window.train_stop, w.window.test_stop) for w in wf.windows] == [
        (0, 3 * day, 4 * day),
        (0, 4 * day, 5 * day),
        (0, 5 * day, 6 * day),
        (0, 6 * day, 7 * day),
    ]
    assert all(w.span_ts[2] % 86_400_000 == 0 for w in wf.windows), "test windows start at midnight"
    payload = wf.to_dict()
    assert payload["anchored"] is True and payload["train"] == "3d" and len(payload["windows"]) == 4
    assert payload["stitched"]["bars"] == 4 * day
