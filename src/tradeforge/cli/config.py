"""`tradeforge config check`: validate the effective settings, data files and database without trading."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from tradeforge.cli.common import (
    EXIT_ERROR,
    console,
    env_name,
    is_secret_name,
    iso_ms,
    load_settings,
    mask_url,
    sqlite_file,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from tradeforge.runtime.settings import Settings

app = typer.Typer(
    help="Inspect and validate the settings (TRADEFORGE_* environment variables and ./tradeforge.toml).",
    no_args_is_help=True,
)

FEED_SAMPLE_BARS = 3
DB_CONNECT_TIMEOUT_S = 5


@dataclass
class Report:
    """Outcome of each check, in order; problems make the command fail."""

    rows: list[tuple[str, bool, str]] = field(default_factory=list)

    def ok(self, check: str, detail: str) -> None:
        self.rows.append((check, True, detail))

    def problem(self, check: str, detail: str) -> None:
        self.rows.append((check, False, detail))

    @property
    def problems(self) -> list[str]:
        return [f"{check}: {detail}" for check, ok, detail in self.rows if not ok]


@app.command("check")
def check() -> None:
    """Validate the effective settings, feed files, risk limits and database without trading.

    Checks every instrument definition,
    every replay feed file (exists, has the OHLCV columns, first bars parse), the risk limits, every
    strategy (name, parameters, symbols), the var directory, the database (reachable, schema
    revision) and every live venue (its stored credential opens with the master key; nothing
    connects). Prints the effective settings (passwords and secrets masked) and the result of each
    check. Exits 0 when everything is valid, 1 with the list of problems otherwise (also for invalid
    variables such as TRADEFORGE_PORT=abc)."""
    settings = load_settings()
    report = Report()
    instruments = _check_instruments(settings, report)
    _check_feeds(settings, instruments, report)
    _check_risk(settings, report)
    _check_strategies(settings, instruments, report)
    _check_var_dir(settings.var_dir, report)
    with console(stderr=True).status("checking the database ..."):
        _check_database(settings, report)
    _check_venues(settings, report)

    out = console()
    out.print(settings_table(settings))
    checks = Table(title="Checks")
    checks.add_column("check", no_wrap=True)
    checks.add_column("result", no_wrap=True)
    checks.add_column("detail")
    for name, ok, detail in report.rows:
        checks.add_row(name, "[green]ok[/]" if ok else "[bold red]problem[/]", detail)
    out.print(checks)
    problems = report.problems
    if problems:
        err = console(stderr=True)
        err.print(f"[bold red]error:[/] configuration has {len(problems)} problem(s):")
        for problem in problems:
            err.print(f"  - {problem}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR)
    out.print("[bold green]configuration OK[/]")


def settings_table(settings: Settings) -> Table:
    table = Table(title="Effective settings")
    table.add_column("setting", no_wrap=True)
    table.add_column("environment variable", no_wrap=True)
    table.add_column("value")
    for name, value in _flatten(settings):
        table.add_row(".".join(name), env_name(*name), _display(name, value))
    return table


def _flatten(model: BaseModel, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    from pydantic import BaseModel

    rows: list[tuple[tuple[str, ...], Any]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            rows.extend(_flatten(value, (*prefix, name)))
        else:
            rows.append(((*prefix, name), value))
    return rows


def _display(name: tuple[str, ...], value: Any) -> str:
    from pydantic import BaseModel, SecretBytes, SecretStr

    if isinstance(value, SecretStr | SecretBytes) or is_secret_name(".".join(name)):
        return "***" if value else ""
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    if isinstance(value, tuple | list):
        if not value:
            return "(none)"
        return "\n".join(_display(name, item) for item in value)
    if isinstance(value, BaseModel):
        return _json(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return _json(value) if value else "{}"
    return str(value)


def _json(value: Any) -> str:
    return json.dumps(value, default=str, separators=(", ", ": "))


def _check_instruments(settings: Settings, report: Report) -> dict[str, Any]:
    from tradeforge.domain.errors import ValidationError
    from tradeforge.domain.instruments import Instrument

    found: dict[str, Instrument] = {}
    for index, item in enumerate(settings.instruments):
        label = f"instrument {item.symbol}"
        try:
            instrument = Instrument.spot(
                item.symbol,
                "paper",
                tick_size=item.tick_size,
                lot_size=item.lot_size,
                min_notional=item.min_notional,
                maker_fee=item.maker_fee,
                taker_fee=item.taker_fee,
            )
        except ValidationError as error:
            report.problem(f"instrument #{index}", f"{env_name('instruments')}[{index}]: {error}")
            continue
        issues = _instrument_issues(instrument)
        if instrument.symbol in found:
            issues.append("defined more than once")
        if issues:
            report.problem(label, "; ".join(issues))
            continue
        found[instrument.symbol] = instrument
        report.ok(
            label,
            f"tick {instrument.tick_size}, lot {instrument.lot_size}, "
            f"min notional {instrument.min_notional}, fees {instrument.maker_fee}/{instrument.taker_fee}",
        )
    if not settings.instruments:
        report.problem("instruments", f"none defined ({env_name('instruments')})")
    return found


def _instrument_issues(instrument: Any) -> list[str]:
    issues = []
    checks: list[tuple[str, Decimal, Callable[[Decimal], bool], str]] = [
        ("tick_size", instrument.tick_size, lambda v: v > 0, "must be greater than zero"),
        ("lot_size", instrument.lot_size, lambda v: v > 0, "must be greater than zero"),
        ("min_notional", instrument.min_notional, lambda v: v >= 0, "must not be negative"),
        # A negative maker fee is a rebate; anything at or beyond 100 % is a typo.
        ("maker_fee", instrument.maker_fee, lambda v: -1 < v < 1, "must be a rate between -1 and 1"),
        ("taker_fee", instrument.taker_fee, lambda v: -1 < v < 1, "must be a rate between -1 and 1"),
    ]
    for name, value, valid, message in checks:
        if not value.is_finite() or not valid(value):
            issues.append(f"{name} {value} {message}")
    return issues


def _check_feeds(settings: Settings, instruments: dict[str, Any], report: Report) -> None:
    from tradeforge.adapters.market_data.bar_files import BarFile
    from tradeforge.domain.data import TIMEFRAME_MS
    from tradeforge.domain.errors import TradeForgeError

    for index, feed in enumerate(settings.feeds):
        label = f"feed {feed.symbol} {feed.timeframe}"
        instrument = instruments.get(feed.symbol)
        if instrument is None:
            report.problem(label, f"{env_name('feeds')}[{index}]: no instrument {feed.symbol!r} is defined")
            continue
        if feed.timeframe not in TIMEFRAME_MS:
            report.problem(label, f"unknown timeframe {feed.timeframe!r}; one of {', '.join(TIMEFRAME_MS)}")
            continue
        if not feed.path.is_file():
            report.problem(label, f"file not found: {feed.path}")
            continue
        try:
            bars = BarFile(feed.path, instrument, feed.timeframe).bars()
            first = list(itertools.islice(bars, FEED_SAMPLE_BARS))
        except (TradeForgeError, ValueError, TypeError, ArithmeticError, OSError) as error:
            report.problem(label, f"{feed.path}: cannot read bars: {error}")
            continue
        except Exception as error:  # pyarrow raises its own types for a corrupt file
            report.problem(label, f"{feed.path}: cannot read bars: {type(error).__name__}: {error}")
            continue
        if not first:
            report.problem(label, f"{feed.path} holds no bars")
            continue
        report.ok(label, f"{feed.path} (first bar at {iso_ms(first[0].ts)}, close {first[0].close})")
    if not settings.feeds:
        report.ok("feeds", "none: the paper venue gets no market data until feeds are configured")


def _check_risk(settings: Settings, report: Report) -> None:
    from tradeforge.domain.errors import ValidationError
    from tradeforge.engine.risk_rules import RiskLimits

    if not settings.risk:
        report.ok("risk limits", "built-in defaults (limits an admin saved at runtime, if any, win)")
        return
    try:
        RiskLimits.from_dict(settings.risk)
    except ValidationError as error:
        report.problem("risk limits", f"{env_name('risk')}: {error.field}: {error.message}")
        return
    report.ok("risk limits", "valid (limits an admin saved at runtime, if any, win)")


def _check_strategies(settings: Settings, instruments: dict[str, Any], report: Report) -> None:
    from tradeforge.domain.errors import ValidationError
    from tradeforge.strategies.registry import resolve

    if not settings.strategies:
        report.ok("strategies", "none")
        return
    for index, item in enumerate(settings.strategies):
        label = f"strategy {item.id}"
        where = f"{env_name('strategies')}[{index}]"
        try:
            resolve(item.name)(item.params)
        except ValidationError as error:
            field = "name" if error.field == "strategy" else "params" + error.field[len("config") :]
            report.problem(label, f"{where}.{field}: {error.message}")
            continue
        unknown = [symbol for symbol in item.symbols if symbol not in instruments]
        if unknown:
            report.problem(label, f"{where}.symbols: not an instrument: {', '.join(unknown)}")
            continue
        state = "started" if item.enabled else "added, not started"
        report.ok(label, f"{item.name} on {', '.join(item.symbols)} {item.timeframe} ({state})")


def _check_venues(settings: Settings, report: Report) -> None:
    """Live venues: credentials, master key and transport override (runtime/venue_checks.py)."""
    from tradeforge.runtime.venue_checks import check_venues

    for name, ok, detail in check_venues(settings):
        (report.ok if ok else report.problem)(name, detail)


def _check_var_dir(var_dir: Path, report: Report) -> None:
    label = "var directory"
    if var_dir.exists():
        if not var_dir.is_dir():
            report.problem(label, f"{var_dir} exists and is not a directory ({env_name('var_dir')})")
        elif not os.access(var_dir, os.W_OK):
            report.problem(label, f"{var_dir} is not writable ({env_name('var_dir')})")
        else:
            report.ok(label, f"{var_dir}")
        return
    parent = _existing_parent(var_dir)
    if parent.is_dir() and os.access(parent, os.W_OK):
        report.ok(label, f"{var_dir} (created on first start)")
    else:
        report.problem(label, f"{var_dir} cannot be created: {parent} is not a writable directory")


def _existing_parent(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")


def _check_database(settings: Settings, report: Report) -> None:
    from sqlalchemy.exc import ArgumentError

    url = settings.database_url
    label = "database"
    try:
        path = sqlite_file(url)
    except ArgumentError as error:
        report.problem(label, f"{env_name('database_url')} is not a database URL: {error}")
        return
    if path is not None and not path.exists():
        parent = _existing_parent(path)
        if parent.is_dir() and os.access(parent, os.W_OK):
            report.ok(label, f"{mask_url(url)} (SQLite file created on first start)")
        else:
            report.problem(label, f"{path} cannot be created: {parent} is not a writable directory")
        return
    try:
        revision, head = _database_revision(url)
    except Exception as error:  # any driver or URL failure is reported, never raised
        original = getattr(error, "orig", None) or error
        report.problem(label, f"{mask_url(url)} is not reachable: {' '.join(str(original).split())}")
        return
    if revision == head:
        report.ok(label, f"{mask_url(url)} reachable, schema at {revision} (up to date)")
    elif settings.auto_migrate:
        report.ok(
            label, f"{mask_url(url)} reachable, schema at {revision or 'none'}; upgraded to {head} on start"
        )
    else:
        report.problem(
            label,
            f"{mask_url(url)} schema at {revision or 'none'}, needs {head} and "
            "TRADEFORGE_AUTO_MIGRATE is off: run `tradeforge db upgrade`",
        )


def _database_revision(url: str) -> tuple[str | None, str]:
    import sqlalchemy as sa
    from alembic.runtime.migration import MigrationContext

    from tradeforge.adapters.sqlalchemy.database import make_engine
    from tradeforge.adapters.sqlalchemy.migrate import head_revision

    kwargs: dict[str, Any] = {}
    if sa.engine.make_url(url).get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": DB_CONNECT_TIMEOUT_S}
    engine = make_engine(url, **kwargs)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            revision = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    return revision, head_revision()
