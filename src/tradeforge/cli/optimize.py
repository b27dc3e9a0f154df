"""`tradeforge optimize`: grid or Optuna search of a strategy's parameters over bars, or walk-forward."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tradeforge.cli.backtest import decimal_option, load_bars
from tradeforge.cli.common import console, fail, iso_ms, mask_url

if TYPE_CHECKING:
    from rich.console import Console

    from tradeforge.backtest.optimize import OptimizationResult, TrialResult
    from tradeforge.backtest.search_space import Objective, SearchSpace
    from tradeforge.backtest.walk_forward import WalkForwardResult

# Columns of the results table after the parameters, from each trial's metrics.
SHOWN = (
    ("total_return", "return"),
    ("sharpe", "sharpe"),
    ("max_drawdown", "max dd"),
    ("trade_count", "trades"),
)


def optimize(
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            "-s",
            help="A built-in name (sma_cross, rsi_reversion, breakout, support_resistance, grid), "
            "package.module:Class, or an entry point of the group tradeforge.strategies.",
        ),
    ],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            "-d",
            exists=True,
            dir_okay=False,
            help="OHLCV bars: .parquet or .csv with timestamp (open time, epoch ms), open, high, low, close, "
            "volume (the schema of shared/data).",
        ),
    ],
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="A parameter to search, repeatable: fast=5:30:5 (int range with step, ends included), "
            "slow=20,30,50 (choices), quantity=1 (fixed), k=1.5:3:0.5 (stepped float/Decimal), "
            "k=1.5..3 (continuous, --method optuna), exit_level=none,60 (None for optional fields). "
            "Fields not named keep the strategy's defaults.",
        ),
    ] = None,
    method: Annotated[
        str, typer.Option(help="grid: every combination; optuna: --trials TPE trials (seeded).")
    ] = "grid",
    trials: Annotated[int, typer.Option(min=1, help="Trials per search with --method optuna.")] = 100,
    objective: Annotated[
        str,
        typer.Option(
            help="Metric to rank by, in its natural direction (sharpe, sortino, calmar, total_return, cagr, "
            "profit_factor, win_rate, expectancy, final_equity, ... are maximized; max_drawdown, volatility, "
            "fees_paid, ... minimized); -metric maximizes the negated metric (-max_drawdown). Runs where "
            "it is undefined rank last."
        ),
    ] = "sharpe",
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: every core).", show_default=False)
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the Optuna sampler.")] = 0,
    walk_forward: Annotated[
        bool,
        typer.Option(
            "--walk-forward",
            help="Walk-forward: optimize each --train window, run its best on the --test window after it.",
        ),
    ] = False,
    train: Annotated[
        str | None,
        typer.Option(
            help="In-sample length: bars (20000) or a duration (30d, 12h, 90m, 2w).", show_default=False
        ),
    ] = None,
    test: Annotated[
        str | None, typer.Option(help="Out-of-sample length, as --train.", show_default=False)
    ] = None,
    step: Annotated[
        str | None,
        typer.Option(help="Shift between windows, at least --test (default: --test).", show_default=False),
    ] = None,
    anchored: Annotated[
        bool, typer.Option("--anchored", help="Every in-sample window starts at the first bar (it grows).")
    ] = False,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna RDB storage URL, e.g. postgresql+psycopg://user@host/db: every machine running the "
            "same --study-name adds its trials to one study.",
            show_default=False,
        ),
    ] = None,
    study_name: Annotated[
        str | None, typer.Option(help="Name of the stored study (created or joined).", show_default=False)
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="event: the event-driven backtester (every strategy); vectorized: the signal kernel "
            "(sma_cross; no risk checks, so give enough --cash)."
        ),
    ] = "event",
    symbol: Annotated[
        str | None,
        typer.Option(help="Unified symbol of the bars (default: from the file's metadata or name)."),
    ] = None,
    timeframe: Annotated[str, typer.Option(help="Bar length of the file: 1m, 5m, 1h, 1d, ...")] = "1m",
    start: Annotated[str | None, typer.Option(help="First bar time (ISO-8601 UTC or epoch ms).")] = None,
    end: Annotated[
        str | None, typer.Option(help="Stop before this bar time (ISO-8601 UTC or epoch ms).")
    ] = None,
    cash: Annotated[str, typer.Option(help="Starting cash of every run, in the quote asset.")] = "100000",
    fee_rate: Annotated[str, typer.Option(help="Fee on every fill's notional (0.001 = 0.1 %).")] = "0.001",
    top: Annotated[int, typer.Option(min=1, help="Rows of the results table.")] = 10,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON object (best params and value, every trial, windows)."),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Also write the results: .json (as --json) or .csv (one row per trial).", show_default=False
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Search a strategy's parameters for the best value of one metric over a file of bars.

    Every trial is a full backtest (the event-driven engine by default), run in parallel worker
    processes. Combinations the strategy refuses (fast >= slow, ...) are skipped and reported. Prints
    the best parameters and a table of the top trials; exits 1 if no trial has a defined objective.
    docs/optimization.md has the details.

    Grid: tradeforge optimize -s sma_cross -d BTCUSDT_1m_2025.parquet -p fast=5:30:5 -p slow=20,30,50
    -p quantity=1 --cash 10000000 --objective sharpe

    Optuna: ... -p fast=2:60 -p slow=10:240:5 --method optuna --trials 200 --seed 7 --out trials.csv

    Walk-forward: ... -p fast=5:30:5 -p slow=20:120:10 --walk-forward --train 30d --test 7d

    Shared study: ... --method optuna --storage postgresql+psycopg://user@db/optuna --study-name btc-sma"""
    from tradeforge.backtest.config import BacktestConfig
    from tradeforge.backtest.optimize import available_cores, make_evaluator
    from tradeforge.backtest.search_space import Objective, SearchSettings, SearchSpace
    from tradeforge.domain.errors import ValidationError
    from tradeforge.strategies import registry

    with _usage("--strategy"):
        config_class = registry.resolve(strategy).config_class
    with _usage("--param"):
        space = SearchSpace.parse(strategy, config_class, params or [])
    if not space.searched:
        message = "nothing to search: give at least one range (fast=5:30:5) or list (slow=20,30,50)"
        raise typer.BadParameter(message, param_hint="--param")
    with _usage("--objective"):
        goal = Objective.parse(objective)
    with _usage():
        plan = _plan(walk_forward or train is not None or test is not None, train, test, step, anchored)
        search = SearchSettings(method, trials, seed, workers, storage, study_name)  # type: ignore[arg-type]
        if search.method == "grid":
            space.grid_size()
        money, fee = decimal_option(cash, "--cash") or Decimal(0), decimal_option(fee_rate, "--fee-rate")
        config = BacktestConfig(strategy=strategy, cash=money, fee_rate=fee or Decimal(0))
    try:
        bars = load_bars(data, symbol, timeframe, start, end)
    except ValidationError as error:
        fail(f"cannot read {data}: {error}")
    with _usage("--engine"):
        evaluator = make_evaluator(engine, config, bars.symbol)
    started = time.perf_counter()
    outcome = _execute(space, goal, search, plan, evaluator, bars, config.cash, quiet)
    head = {"strategy": strategy, "data": str(data), "symbol": bars.symbol, "timeframe": bars.timeframe}
    payload = {**head, **_payload(outcome), "workers": search.workers or available_cores()}
    payload["elapsed_seconds"] = time.perf_counter() - started
    if out is not None:
        _write(out, payload)
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
    else:
        _print(outcome, space, bars, payload, top)
    if payload["best_params"] is None:
        reasons = [row["error"] for row in payload["trials"] if row.get("error")]
        example = f"; {len(reasons)} skipped, e.g. {reasons[0]}" if reasons else ""
        fail(f"no trial produced a defined {goal.name}{example}")


# --- options -----------------------------------------------------------------------------------
@contextmanager
def _usage(hint: str | None = None) -> Iterator[None]:
    """A ValidationError inside becomes typer's usage error (exit 2) on `hint` or the option the
    error's field names; a --param error keeps the parameter's name in front."""
    from tradeforge.domain.errors import ValidationError

    try:
        yield
    except ValidationError as error:
        field = error.field
        name = field.removeprefix("param").strip() if field.startswith("param") else ""
        option = "--param" if field.startswith("param") else {"walk_forward": "--train"}.get(field)
        message = f"{name}: {error.message}" if name else error.message
        raise typer.BadParameter(
            message, param_hint=hint or option or f"--{field.replace('_', '-')}"
        ) from None


def _plan(enabled: bool, train: str | None, test: str | None, step: str | None, anchored: bool) -> Any:
    from tradeforge.backtest.walk_forward import Span, WalkForwardPlan

    if not enabled:
        if step is not None or anchored:
            raise typer.BadParameter("--step and --anchored need --walk-forward", param_hint="--walk-forward")
        return None
    if train is None or test is None:
        missing = "--train" if train is None else "--test"
        raise typer.BadParameter("--walk-forward needs --train and --test", param_hint=missing)
    stride = Span.parse(step, "step") if step else None
    return WalkForwardPlan(Span.parse(train, "train"), Span.parse(test, "test"), stride, anchored)


# --- running -----------------------------------------------------------------------------------
def _execute(
    space: SearchSpace,
    goal: Objective,
    search: Any,
    plan: Any,
    evaluator: Any,
    bars: Any,
    cash: Decimal,
    quiet: bool,
) -> OptimizationResult | WalkForwardResult:
    from sqlalchemy.exc import SQLAlchemyError

    from tradeforge.backtest.optimize import optimize as run_search
    from tradeforge.backtest.search_space import storage_url
    from tradeforge.backtest.walk_forward import planned_steps, walk_forward
    from tradeforge.domain.errors import ValidationError

    total = planned_steps(plan, bars, space, search) if plan is not None else search.planned(space)
    label = f"{space.strategy} {search.method}{' walk-forward' if plan else ''}"
    try:
        with _progress(total, label, quiet) as advance:
            if plan is None:
                return run_search(evaluator, bars, space, goal, search, advance=advance)
            return walk_forward(evaluator, bars, space, goal, plan, search, cash=cash, advance=advance)
    except (SQLAlchemyError, ImportError) as error:
        if search.storage is None:
            raise
        detail = " ".join(str(getattr(error, "orig", None) or error).split())
        fail(f"cannot use the study storage {mask_url(storage_url(search.storage))}: {detail}")
    except ValidationError as error:
        fail(str(error))


@contextmanager
def _progress(total: int, label: str, quiet: bool) -> Iterator[Callable[[int], None]]:
    """advance(n) of a trials-done / total bar on stderr (stdout stays clean for --json).

    The bar (and its refresh thread) starts at the first advance, once the worker processes are
    forked: a fork copies only the forking thread, never one that might hold a lock."""
    if quiet:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("trials"),
        TimeElapsedColumn(),
        console=console(stderr=True),
    )
    task: list[TaskID] = []

    def advance(n: int) -> None:
        if not task:
            progress.start()
            task.append(progress.add_task(escape(label), total=total))
        progress.advance(task[0], n)

    try:
        yield advance
    finally:
        if task:
            progress.stop()


# --- output ------------------------------------------------------------------------------------
def _payload(outcome: OptimizationResult | WalkForwardResult) -> dict[str, Any]:
    """The --json object: best params and value, the objective, every trial, walk-forward windows."""
    from tradeforge.backtest.optimize import OptimizationResult
    from tradeforge.backtest.report import to_jsonable

    if isinstance(outcome, OptimizationResult):
        return {**outcome.to_dict(), "walk_forward": None}
    last = outcome.windows[-1].search
    rows: list[dict[str, Any]] = []
    for window in outcome.windows:
        rows.extend({"window": window.window.index, **trial.to_dict()} for trial in window.search.trials)
    return {
        "method": last.method,
        "engine": last.engine,
        "objective": outcome.objective.name,
        "direction": outcome.objective.direction,
        "bars": int(outcome.equity.size),
        "best_params": to_jsonable(outcome.last_best_params),
        "best_value": last.best_value if outcome.last_best_params is not None else None,
        "walk_forward": outcome.to_dict(),
        "trials": rows,
    }


def _write(path: Path, payload: dict[str, Any]) -> None:
    from tradeforge.backtest.report import write_json

    suffix = path.suffix.lower()
    if suffix == ".json":
        write_json(path, payload)
        return
    if suffix != ".csv":
        fail(f"--out {path}: expected a .json or .csv file")
    import csv

    rows = [_flat(row) for row in payload["trials"]]
    columns: list[str] = []
    for row in rows:
        columns.extend(name for name in row if name not in columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _flat(trial: dict[str, Any]) -> dict[str, Any]:
    """One CSV row: [window,] number, state, value, each parameter, final_equity, orders, metrics, error."""
    row: dict[str, Any] = {key: trial[key] for key in ("window", "number", "state", "value") if key in trial}
    row.update(trial["params"])
    row["final_equity"], row["orders"] = trial["final_equity"], trial["orders"]
    row.update(trial["metrics"] or {})
    row["error"] = trial["error"]
    return row


def _print(
    outcome: OptimizationResult | WalkForwardResult,
    space: SearchSpace,
    bars: Any,
    payload: dict[str, Any],
    top: int,
) -> None:
    from tradeforge.backtest.optimize import OptimizationResult

    out = console()
    head = Table.grid(padding=(0, 2))
    head.add_row("strategy", f"{space.strategy} on {bars.symbol} {bars.timeframe}, {len(bars):,} bars")
    head.add_row("range", f"{iso_ms(int(bars.ts[0]))} -> {iso_ms(int(bars.ts[-1]))}")
    head.add_row("search", "; ".join(space.describe()))
    head.add_row("objective", f"{payload['objective']} ({payload['direction']})")
    head.add_row(
        "engine", f"{payload['engine']}, {payload['workers']} workers, {payload['elapsed_seconds']:.1f} s"
    )
    out.print(head, markup=False)
    if isinstance(outcome, OptimizationResult):
        _print_trials(out, outcome.trials, space, payload["objective"], top)
        if outcome.study is not None:
            study = outcome.study
            out.print(
                f"study {study.name}: {study.trials} trials from every run, {study.complete} complete; "
                f"best is trial {study.best_number}",
                markup=False,
            )
    else:
        _print_windows(out, outcome, space)
    _print_best(out, payload)


def _print_trials(
    out: Console, trials: Sequence[TrialResult], space: SearchSpace, objective: str, top: int
) -> None:
    varying = [d.name for d in space.searched]
    shown = [(key, label) for key, label in SHOWN if key != objective]
    table = Table(title=f"top {min(top, len(trials))} of {len(trials)} trials by {objective}")
    for column in ("#", "trial", *varying, objective, *(label for _, label in shown), "final equity"):
        table.add_column(escape(column), justify="right", no_wrap=True)
    for place, trial in enumerate(trials[:top], start=1):
        evaluation = trial.evaluation
        cells = [_number(key, getattr(evaluation.metrics, key) if evaluation else None) for key, _ in shown]
        equity = f"{evaluation.final_equity:.2f}" if evaluation else trial.state
        values = [_cell(trial.params.get(name)) for name in varying]
        row = [str(place), str(trial.number), *values, _number(objective, trial.value)]
        table.add_row(*(escape(text) for text in (*row, *cells, equity)))
    out.print(table)
    skipped = [trial for trial in trials if trial.state == "skipped"]
    undefined = sum(1 for trial in trials if trial.state == "undefined")
    if undefined:
        out.print(f"{undefined} trials left {objective} undefined (ranked last)", markup=False)
    if skipped:
        out.print(f"{len(skipped)} combinations skipped (refused by the strategy), e.g.:", markup=False)
        for trial in skipped[:3]:
            params = ", ".join(f"{k}={_cell(v)}" for k, v in trial.params.items() if k in varying)
            out.print(f"  {params}: {trial.error}", markup=False, soft_wrap=True)


def _print_windows(out: Console, wf: WalkForwardResult, space: SearchSpace) -> None:
    title = f"walk-forward: {len(wf.windows)} windows ({'anchored' if wf.plan.anchored else 'rolling'})"
    table = Table(title=title)
    for column in ("#", "in-sample", "out-of-sample", "best params"):
        table.add_column(column)
    for column in ("IS value", "OOS value", "OOS return", "trades"):
        table.add_column(column, justify="right")
    key = wf.objective.name
    varying = [d.name for d in space.searched]
    for window in wf.windows:
        first, last, test_first, test_last = window.span_ts
        params = window.search.best_params
        shown = ", ".join(f"{k}={_cell(v)}" for k, v in params.items() if k in varying) if params else "-"
        oos = window.oos.evaluation if window.oos is not None else None
        table.add_row(
            str(window.window.index),
            f"{iso_ms(first)[:16]} .. {iso_ms(last)[:16]}",
            f"{iso_ms(test_first)[:16]} .. {iso_ms(test_last)[:16]}",
            escape(shown),
            _number(key, window.search.best_value),
            _number(key, window.oos.value if window.oos else None),
            _number("total_return", oos.metrics.total_return if oos else None),
            str(oos.metrics.trade_count) if oos else "-",
        )
    out.print(table)
    curve, equity = wf.stitched, wf.equity
    returns, sharpe = _number("total_return", curve.total_return), _number("", curve.sharpe)
    drawdown = _number("max_drawdown", curve.max_drawdown)
    out.print(
        f"stitched out-of-sample ({equity.size:,} bars): return {returns}, sharpe {sharpe},"
        f" max drawdown {drawdown}, {curve.trade_count} trades, equity {equity[0]:.2f} -> {equity[-1]:.2f}",
        markup=False,
    )


def _print_best(out: Console, payload: dict[str, Any]) -> None:
    best = payload["best_params"]
    if best is None:
        return
    where = "latest window's best" if payload["walk_forward"] else "best"
    params = " ".join(f"{key}={value}" for key, value in best.items())
    value = _number(payload["objective"], payload["best_value"])
    out.print(f"[bold]{where}:[/] {escape(params)}  ({payload['objective']} = {value})")


def _cell(value: Any) -> str:
    return "none" if value is None else str(value)


def _number(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in ("total_return", "max_drawdown"):
        return f"{float(value) * 100:.4g} %"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
