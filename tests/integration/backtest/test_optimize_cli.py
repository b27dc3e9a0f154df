"""`tradeforge optimize` on a real slice of BTC/USDT minutes: --json, --out, walk-forward, usage errors."""

from __future__ import annotations

import csv
import json
import os
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from tradeforge.backtest.config import BacktestConfig
from tradeforge.backtest.engine import run_backtest
from tradeforge.backtest.feed import BarColumns
from tradeforge.cli.main import app

BTC_YEAR = Path("/work/shared/data/binance_spot_1m/BTCUSDT_1m_2025.parquet")
GRID = ("-p", "fast=5:15:5", "-p", "slow=10,40", "-p", "quantity=1")


@pytest.fixture(scope="module")
def slice_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6,000 minutes of March 2025 as their own Parquet file (the shared/data schema)."""
    if not BTC_YEAR.exists():
        message = f"{BTC_YEAR} is missing (shared/data sits beside the repository)"
        if os.environ.get("TRADEFORGE_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    target = tmp_path_factory.mktemp("bars") / "BTCUSDT_1m_2025-03.parquet"
    pq.write_table(pq.read_table(BTC_YEAR).slice(84_960, 6_000), target)
    return target


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, ["optimize", *args], catch_exceptions=False, env={"COLUMNS": "200"})


def test_json_names_the_best_params_and_every_trial_with_true_numbers(
    slice_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "trials.csv"
    result = invoke(
        *("-s", "sma_cross", "-d", str(slice_file), *GRID, "--cash", "10000000"),
        *("--objective", "total_return", "--workers", "2", "--json", "-q", "--out", str(out)),
    )
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["symbol"] == "BTC/USDT" and payload["bars"] == 6_000
    assert (payload["method"], payload["objective"], payload["direction"]) == (
        "grid",
        "total_return",
        "maximize",
    )
    assert payload["trial_count"] == 6 and payload["skipped_count"] == 2
    assert {row["state"] for row in payload["trials"]} == {"complete", "skipped"}
    best = payload["best_params"]
    assert set(best) == {"fast", "slow", "quantity"} and best["quantity"] == "1"
    top = payload["trials"][0]
    assert top["params"] == best and top["value"] == payload["best_value"]
    # The reported best is what a plain backtest of those parameters gives.
    bars = BarColumns.from_file(slice_file, "BTC/USDT", "1m")
    config = BacktestConfig(cash=Decimal("10000000"), params=best)
    direct = run_backtest(config, bars).result
    assert payload["best_value"] == direct.metrics.total_return
    assert top["final_equity"] == str(direct.final_equity)
    values = [row["value"] for row in payload["trials"] if row["state"] == "complete"]
    assert values == sorted(values, reverse=True)
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and rows[0]["fast"] == str(best["fast"]) and rows[0]["state"] == "complete"
    assert "must be shorter than slow" in rows[-1]["error"]


def test_the_table_shows_the_top_trials_and_the_best_params(slice_file: Path) -> None:
    result = invoke("-s", "sma_cross", "-d", str(slice_file), *GRID, "--cash", "10000000", "--top", "3")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "top 3 of 6 trials by sharpe" in text
    assert "2 combinations skipped (refused by the strategy)" in text
    assert "best: fast=" in text and "quantity=1" in text
    assert "6/6" in result.stderr  # the progress bar: trials done / total


def test_walk_forward_json_lists_windows_and_the_stitched_out_of_sample_run(
    slice_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "wf.json"
    result = invoke(
        *(
            "-s",
            "sma_cross",
            "-d",
            str(slice_file),
            "-p",
            "fast=5,15",
            "-p",
            "slow=40,80",
            "-p",
            "quantity=1",
        ),
        *("--cash", "10000000", "--walk-forward", "--train", "2000", "--test", "1000", "--json", "-q"),
        *("--out", str(out), "--engine", "vectorized"),
    )
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert json.loads(out.read_text(encoding="utf-8"))["walk_forward"] == payload["walk_forward"]
    windows = payload["walk_forward"]["windows"]
    assert [(w["train"]["first"], w["test"]["first"], w["test"]["stop"]) for w in windows] == [
        (0, 2000, 3000),
        (1000, 3000, 4000),
        (2000, 4000, 5000),
        (3000, 5000, 6000),
    ]
    assert payload["best_params"] == windows[-1]["best_params"]
    assert all(w["out_of_sample"]["metrics"]["bars"] == 1000 for w in windows)
    assert payload["walk_forward"]["stitched"]["bars"] == 4000
    assert {row["window"] for row in payload["trials"]} == {0, 1, 2, 3}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("-p", "fast=abc"), ["--param", "fast: 'abc' is not a valid int"]),
        (("-p", "fsat=1:5"), ["--param", "fsat: unknown parameter"]),
        (("-p", "quantity=1"), ["--param", "nothing to search"]),
        (("-p", "fast=1:5", "--objective", "sharp"), ["--objective", "unknown metric 'sharp'"]),
        (("-p", "fast=1:5", "--storage", "sqlite://"), ["--storage", "needs --method optuna"]),
        (("-p", "fast=1:5", "--walk-forward", "--train", "30d"), ["--test", "needs --train and --test"]),
        (("-p", "fast=1:5", "--train", "2000", "--test", "x"), ["--test", "'x'"]),
        (("-p", "fast=1:5", "--engine", "vectorized", "-s", "rsi_reversion"), ["unknown parameter"]),
        (
            ("-p", "period=5:9", "--engine", "vectorized", "-s", "rsi_reversion"),
            ["--engine", "no vectorized"],
        ),
        (("-p", "fast=1:5", "-s", "nope"), ["--strategy", "unknown strategy 'nope'"]),
        (("-p", "fast=1:5", "--cash", "-5"), ["--cash", "at least 0"]),
        (("-p", "fast=1:5", "--fee-rate", "2"), ["--fee-rate", "below 1"]),
    ],
)
def test_bad_options_are_usage_errors_naming_the_option(
    slice_file: Path, args: tuple[str, ...], words: list[str]
) -> None:
    result = invoke("-s", "sma_cross", "-d", str(slice_file), *args)  # a second -s wins
    assert result.exit_code == 2, result.output
    text = " ".join(result.stderr.replace("│", " ").split())
    assert all(word in text for word in words), text


def test_no_defined_objective_exits_1_with_the_reason(slice_file: Path) -> None:
    result = invoke("-s", "sma_cross", "-d", str(slice_file), "-p", "fast=20,30", "-p", "slow=10", "-q")
    assert result.exit_code == 1
    text = " ".join(result.stderr.split())
    assert "no trial produced a defined sharpe; 2 skipped" in text and "must be shorter than slow" in text


def test_help_explains_every_option_with_examples() -> None:
    result = CliRunner().invoke(app, ["optimize", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--param",
        "--method",
        "--objective",
        "--walk-forward",
        "--train",
        "--storage",
        "--engine",
    ):
        assert option in result.stdout
    assert "Walk-forward: ... -p fast=5:30:5" in result.stdout


def test_an_unreachable_study_storage_exits_1_without_showing_the_password(slice_file: Path) -> None:
    url = "postgresql+psycopg://optuna:s3cret@127.0.0.1:1/studies"
    result = invoke(
        *("-s", "sma_cross", "-d", str(slice_file), "-p", "fast=5:15:5", "--method", "optuna"),
        *("--trials", "2", "--storage", url, "--study-name", "x", "-q"),
    )
    assert result.exit_code == 1
    text = " ".join(result.stderr.split())
    assert "cannot use the study storage postgresql+psycopg://optuna:***@127.0.0.1:1/studies" in text
    assert "s3cret" not in text
