"""An Optuna study stored in the running PostgreSQL server is shared: runs with different workers and
concurrent processes (as on several machines) add their trials to one study with one best trial."""

from __future__ import annotations

import functools
import json
import multiprocessing
from decimal import Decimal
from pathlib import Path
from typing import Any

import optuna
import pytest

from tradeforge.backtest.config import BacktestConfig
from tradeforge.backtest.feed import BarColumns
from tradeforge.backtest.optimize import EventEvaluator, OptimizationResult, optimize
from tradeforge.backtest.report import to_jsonable
from tradeforge.backtest.search_space import Objective, SearchSettings, SearchSpace, storage_url
from tradeforge.domain.errors import ValidationError
from tradeforge.strategies.builtin.sma_cross import SmaCrossConfig

pytestmark = pytest.mark.postgres

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"
CONFIG = BacktestConfig(strategy="sma_cross", cash=Decimal("10000000"))
SPECS = ["fast=2:30", "slow=10:120:5", "quantity=1"]


@functools.cache
def sample() -> BarColumns:
    return BarColumns.from_file(SAMPLE, "BTC/USDT", "1m").slice(0, 3_000)


def run(
    url: str, name: str, *, seed: int, workers: int, trials: int = 6, objective: str = "sharpe"
) -> OptimizationResult:
    settings = SearchSettings("optuna", trials, seed, workers, url, name)
    space = SearchSpace.parse("sma_cross", SmaCrossConfig, SPECS)
    return optimize(EventEvaluator(CONFIG), sample(), space, Objective.parse(objective), settings)


def stored(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def best_of(trials: list[optuna.trial.FrozenTrial]) -> optuna.trial.FrozenTrial:
    complete = [t for t in trials if t.state is optuna.trial.TrialState.COMPLETE]
    return max(complete, key=lambda t: (t.value, -t.number))


def test_runs_with_different_workers_add_up_in_one_stored_study(postgres_url: str) -> None:
    first = run(postgres_url, "btc-sma", seed=1, workers=1)
    second = run(postgres_url, "btc-sma", seed=2, workers=2)
    assert first.study is not None and second.study is not None
    assert (first.study.trials, second.study.trials) == (6, 12)
    trials = stored(postgres_url, "btc-sma")
    assert sorted(t.number for t in trials) == list(range(12))
    ours = [to_jsonable(dict(t.params)) for t in (*first.trials, *second.trials)]
    assert sorted(map(json.dumps, (t.user_attrs["params"] for t in trials))) == sorted(map(json.dumps, ours))
    # The study's best is the best of the union, whichever run found it, and both runs agree on it
    # as far as each has seen: the second run sees every trial.
    best = best_of(trials)
    assert second.study.best_number == best.number and second.best_value == best.value
    assert second.best_params == best.user_attrs["params"]
    assert second.to_dict()["best_metrics"]["sharpe"] == best.value
    own_best = max(t.value for t in (*first.trials, *second.trials) if t.value is not None)
    assert best.value == own_best
    # Refused parameter sets are stored as failed trials with the reason.
    failed = [t for t in trials if t.state is optuna.trial.TrialState.FAIL]
    assert all(
        t.params["fast"] >= t.params["slow"] and "shorter than slow" in t.user_attrs["error"] for t in failed
    )


def test_a_stored_study_refuses_another_objective(postgres_url: str) -> None:
    run(postgres_url, "btc-sharpe", seed=1, workers=1, trials=1)
    with pytest.raises(ValidationError, match="objective 'sharpe', not 'calmar'"):
        run(postgres_url, "btc-sharpe", seed=1, workers=1, trials=1, objective="calmar")
    with pytest.raises(ValidationError, match="set to maximize, not minimize"):
        run(postgres_url, "btc-sharpe", seed=1, workers=1, trials=1, objective="max_drawdown")


def _join(url: str, seed: int, trials: int, results: multiprocessing.Queue[dict[str, Any]]) -> None:
    """One "machine": its own process and database connections, adding trials to the study."""
    results.put(run(url, "shared", seed=seed, workers=1, trials=trials).to_dict())


def test_two_processes_working_on_one_study_at_once_end_with_the_union(postgres_url: str) -> None:
    # The first run creates the schema and the study; then two processes join it concurrently.
    first = run(postgres_url, "shared", seed=1, workers=1, trials=2)
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[dict[str, Any]] = context.Queue()
    processes = [context.Process(target=_join, args=(postgres_url, seed, 5, queue)) for seed in (11, 12)]
    for process in processes:
        process.start()
    outputs = [queue.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    trials = stored(postgres_url, "shared")
    assert len(trials) == 2 + 5 + 5 and len({t.number for t in trials}) == 12
    seen = sorted(json.dumps(t.user_attrs["params"]) for t in trials)
    reported = [to_jsonable(dict(t.params)) for t in first.trials]
    reported += [row["params"] for output in outputs for row in output["trials"]]
    assert seen == sorted(json.dumps(params) for params in reported)
    best = best_of(trials)
    # Each process saw at least its own and the first run's trials; whichever finished last saw all.
    assert max(output["study"]["trials"] for output in outputs) == 12
    for output in outputs:
        assert output["study"]["name"] == "shared" and output["study"]["trials"] >= 7
        assert output["best_value"] <= best.value
    assert any(output["best_value"] == best.value for output in outputs if output["study"]["trials"] == 12)


def test_plain_postgresql_urls_go_through_psycopg3() -> None:
    assert (
        storage_url("postgresql://optuna@db.example/studies")
        == "postgresql+psycopg://optuna@db.example/studies"
    )
    assert storage_url("sqlite:///studies.db") == "sqlite:///studies.db"
