"""`tradeforge backtest`: run one strategy over a bar file on the live engines in simulated time."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradeforge.cli.common import console, fail

if TYPE_CHECKING:
    from tradeforge.backtest.config import BacktestConfig
    from tradeforge.backtest.feed import BarColumns
    from tradeforge.backtest.ticks import TickColumns

# Quote assets tried, longest first, when a file names its pair without a separator (BTCUSDT).
KNOWN_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "EUR", "USD", "BTC", "ETH", "BNB", "TRY")
PAIR = re.compile(r"([A-Z0-9]{2,20}?)(FDUSD|USDT|USDC|BUSD|TUSD|EUR|USD|BTC|ETH|BNB|TRY)(?![A-Z])")


def parse_assignments(pairs: list[str], option: str = "--set") -> dict[str, str]:
    """`key=value` strings into a mapping; the strategy's config class converts the values."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {pair!r}", param_hint=option)
        values[key] = value.strip()
    return values


def decimal_option(text: str | None, name: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not a number", param_hint=name) from None
    if not value.is_finite():
        raise typer.BadParameter(f"{text!r} is not a finite number", param_hint=name)
    return value


def parse_time(text: str | None, name: str) -> int | None:
    """ISO-8601 (UTC unless an offset is given) or epoch milliseconds, as epoch milliseconds."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not ISO-8601 or epoch ms", param_hint=name) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def infer_symbol(path: Path) -> str | None:
    """The pair a shared/data-style file holds: its Parquet `symbol` metadata or its name (BTCUSDT_...)."""
    candidates: list[str] = []
    if path.suffix.lower() in (".parquet", ".pq") and path.exists():
        import pyarrow.parquet as pq

        metadata = pq.read_schema(path).metadata or {}
        raw = metadata.get(b"symbol")
        if raw:
            candidates.append(raw.decode(errors="replace"))
    candidates.append(path.stem.upper())
    for text in candidates:
        if "/" in text:
            return text.upper()
        match = PAIR.match(text.upper())
        if match:
            return f"{match.group(1)}/{match.group(2)}"
    return None


def load_bars(
    data: Path, symbol: str | None, timeframe: str, start: str | None, end: str | None
) -> BarColumns:
    from tradeforge.backtest.feed import BarColumns

    pair = symbol or infer_symbol(data)
    if pair is None:
        raise typer.BadParameter("cannot tell the symbol from the file; give --symbol", param_hint="--symbol")
    return BarColumns.from_file(
        data, pair, timeframe, start_ms=parse_time(start, "--start"), end_ms=parse_time(end, "--end")
    )


def load_ticks(data: Path, symbol: str | None) -> TickColumns:
    from tradeforge.backtest.ticks import TickColumns

    pair = symbol or infer_symbol(data)
    if pair is None:
        raise typer.BadParameter("cannot tell the symbol from the file; give --symbol", param_hint="--symbol")
    return TickColumns.from_file(data, pair)


def backtest(
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            "-s",
            help="A built-in name (sma_cross, rsi_reversion, breakout, support_resistance, grid; "
            "see docs/strategies.md), package.module:Class, or an entry point of the group "
            "tradeforge.strategies.",
        ),
    ],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            "-d",
            help="OHLCV bars: .parquet or .csv with timestamp (open time, epoch ms), open, high, low, "
            "close, volume — the schema of shared/data and of `tradeforge data` files.",
        ),
    ],
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="A strategy parameter, key=value; repeat for several (e.g. --set fast=10 --set slow=30).",
        ),
    ] = None,
    symbol: Annotated[
        str | None,
        typer.Option(help="Unified symbol of the bars (default: from the file's metadata or name)."),
    ] = None,
    timeframe: Annotated[str, typer.Option(help="Bar length of the file: 1m, 5m, 1h, 1d, ...")] = "1m",
    ticks: Annotated[
        bool,
        typer.Option(
            "--ticks",
            help="The file holds trade prints (timestamp, price, quantity/amount/size), not bars: "
            "strategies get on_tick, market orders fill at the next print.",
        ),
    ] = False,
    cash: Annotated[str, typer.Option(help="Starting cash in the quote asset.")] = "100000",
    fee_rate: Annotated[str, typer.Option(help="Fee on every fill's notional (0.001 = 0.1 %).")] = "0.001",
    slippage: Annotated[
        str, typer.Option(help="none, fixed (--slippage-bps against the taker) or volume (impact model).")
    ] = "none",
    slippage_bps: Annotated[str, typer.Option(help="Basis points for --slippage fixed.")] = "0",
    volume_share: Annotated[
        str | None,
        typer.Option(help="Cap each bar's fills at this share of its volume (partial fills); default none."),
    ] = None,
    start: Annotated[str | None, typer.Option(help="First bar time (ISO-8601 UTC or epoch ms).")] = None,
    end: Annotated[
        str | None, typer.Option(help="Stop before this bar time (ISO-8601 UTC or epoch ms).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of everything random in the run.")] = 0,
    report: Annotated[
        Path | None,
        typer.Option(help="Write report.html, result.json, orders.json and fills.json into this directory."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (the result summary) and nothing else.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Backtest a strategy over a file of bars, on the same OMS, risk engine, paper venue and
    portfolio as the live service, in simulated time.

    Fill rules (docs/backtest.md): a market order sent on a bar's close fills at the next bar's open;
    a limit or stop order fills inside a later bar that trades through it (stops before limits when
    both could trigger in one bar); fees on every fill; optional slippage and volume-bounded partial
    fills. The same inputs and seed always give the same result.

    Example: tradeforge backtest --strategy sma_cross --data BTCUSDT_1m_2025.parquet --set fast=10
    --set slow=30 --set quantity=1 --cash 10000000 --report out/ --json"""
    from tradeforge.backtest.config import BacktestConfig
    from tradeforge.backtest.engine import BacktestFailed, run_backtest
    from tradeforge.domain.errors import ValidationError

    params = parse_assignments(assignments or [])
    try:
        config = BacktestConfig(
            strategy=strategy,
            params=params,
            cash=decimal_option(cash, "--cash") or Decimal(0),
            fee_rate=decimal_option(fee_rate, "--fee-rate") or Decimal(0),
            slippage=slippage,  # type: ignore[arg-type]
            slippage_bps=decimal_option(slippage_bps, "--slippage-bps") or Decimal(0),
            max_volume_share=decimal_option(volume_share, "--volume-share"),
            seed=seed,
        )
        bars = load_ticks(data, symbol) if ticks else load_bars(data, symbol, timeframe, start, end)
        run = run_backtest(config, bars, progress=not quiet and not as_json, data_file=str(data))
    except (ValidationError, BacktestFailed) as error:
        fail(str(error))
    summary = run.result.summary_json()
    written = run.write_report(report) if report is not None else {}
    if as_json:
        if written:
            summary["report"] = str(written["report"])
        typer.echo(json.dumps(summary))
        return
    _print_summary(summary, config, written)


def _print_summary(summary: dict[str, Any], config: BacktestConfig, written: dict[str, Path]) -> None:
    from rich.table import Table

    out = console()
    table = Table(title=f"{summary['strategy']} on {summary.get('symbol')} ({summary['bars']:,} bars)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in (
        "final_equity",
        "total_return",
        "cagr",
        "sharpe",
        "sortino",
        "max_drawdown",
        "trades",
        "win_rate",
        "profit_factor",
        "fees_paid",
        "orders",
        "elapsed_seconds",
    ):
        value = summary.get(key)
        table.add_row(key, "-" if value is None else _show(value))
    out.print(table)
    for name, path in written.items():
        out.print(f"{name}: {path}")


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
