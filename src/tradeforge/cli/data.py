"""`tradeforge data`: import OHLCV files into the local market-data store and list what it holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from tradeforge.cli.common import console, fail, iso_ms, load_settings

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from tradeforge.adapters.market_data.download import DownloadProgress, DownloadReport
    from tradeforge.adapters.market_data.store import StoreEntry

app = typer.Typer(
    help=(
        "Market-data store: OHLCV bars as Parquet files under TRADEFORGE_DATA_DIR (default var/data), "
        "one file per venue, symbol and timeframe (<venue>/<BASE>-<QUOTE>/<timeframe>.parquet)."
    ),
    no_args_is_help=True,
)


@app.command("import")
def import_file(
    file: Annotated[
        Path,
        typer.Argument(
            help="A .csv or .parquet file with a time column (timestamp, date or time: epoch ms or "
            "ISO-8601, UTC) and open, high, low, close, volume.",
            show_default=False,
        ),
    ],
    symbol: Annotated[str, typer.Option("--symbol", help="Unified symbol of the bars, e.g. BTC/USDT.")],
    timeframe: Annotated[
        str, typer.Option("--timeframe", help="Bar length: 1m, 3m, 5m, 15m, 30m, 1h, 4h or 1d.")
    ],
    venue: Annotated[
        str, typer.Option("--venue", help="Exchange id the bars come from (lower case, ccxt style).")
    ] = "binance",
) -> None:
    """Validate a CSV or Parquet file of bars and merge it into the store.

    The whole file is checked before anything is written: numbers, finite values, volume >= 0,
    low <= open, close <= high, times on the timeframe's grid, and repeated times only with identical
    values. The first problem is reported with its column and row (row 1 = first data row) and
    nothing changes. Bars from the file replace stored bars with the same time. Prints rows read, new
    rows, the time range and the bars missing inside it (gaps)."""
    from tradeforge.adapters.market_data.importer import import_bars
    from tradeforge.adapters.market_data.store import ParquetBarStore
    from tradeforge.domain.errors import ValidationError

    settings = load_settings()
    store = ParquetBarStore(settings.data_dir)
    try:
        with _progress_bar(file.name) as progress:
            report = import_bars(file, store, venue, symbol, timeframe, progress=progress)
    except ValidationError as error:
        where = "" if error.field == "file" else f"{error.field}: "
        fail(f"cannot import {file}: {where}{error.message}")
    except OSError as error:
        fail(f"cannot import {file} into {settings.data_dir}: {error.strerror or error}")
    summary = Table.grid(padding=(0, 2))
    summary.add_row("file", str(report.source))
    summary.add_row("dataset", f"{report.venue} {report.symbol} {report.timeframe}")
    summary.add_row("rows", f"{report.rows:,} imported ({report.duplicates:,} identical repeats dropped)")
    replaced = f"{report.replaced_rows:,} were stored already, replaced"
    summary.add_row("new rows", f"{report.new_rows:,} ({replaced})")
    summary.add_row("range", f"{iso_ms(report.first_ts)} → {iso_ms(report.last_ts)}")
    summary.add_row("gaps", _gaps(report.gaps, report.holes))
    summary.add_row("stored", f"{report.stored_rows:,} rows in {report.path}")
    console().print(Panel(summary, title="bars imported", expand=False))


@app.command("list")
def list_data(
    as_json: Annotated[bool, typer.Option("--json", help="Print raw JSON instead of a table.")] = False,
) -> None:
    """List every stored dataset: venue, symbol, timeframe, rows, first and last bar, gaps, size.

    Reads TRADEFORGE_DATA_DIR (default var/data). `gaps` counts the bars missing between the first
    and the last (with the number of holes they form); times are bar opens in UTC."""
    from tradeforge.adapters.market_data.store import ParquetBarStore
    from tradeforge.domain.errors import ValidationError

    settings = load_settings()
    try:
        entries = ParquetBarStore(settings.data_dir).entries()
    except ValidationError as error:
        fail(f"cannot list {settings.data_dir}: {error.message}")
    if as_json:
        typer.echo(json.dumps({"items": [_as_json(entry) for entry in entries]}, indent=2))
        return
    out = console()
    if not entries:
        out.print(
            f"no bars stored in {settings.data_dir} (add some with `tradeforge data import`)", markup=False
        )
        return
    table = Table(title=f"Market data in {settings.data_dir} ({len(entries)})")
    for column in ("venue", "symbol", "timeframe", "rows", "first", "last", "gaps", "size", "path"):
        table.add_column(column, no_wrap=True, justify="right" if column in ("rows", "size") else "left")
    for e in entries:
        table.add_row(
            e.venue,
            e.symbol,
            e.timeframe,
            f"{e.rows:,}",
            iso_ms(e.first_ts),
            iso_ms(e.last_ts),
            _gaps(e.gaps, e.holes),
            _size(e.size_bytes),
            str(e.path),
        )
    out.print(table)


def _as_json(entry: StoreEntry) -> dict[str, object]:
    return {
        "venue": entry.venue,
        "symbol": entry.symbol,
        "timeframe": entry.timeframe,
        "rows": entry.rows,
        "first_ts": entry.first_ts,
        "last_ts": entry.last_ts,
        "first": iso_ms(entry.first_ts) if entry.first_ts is not None else None,
        "last": iso_ms(entry.last_ts) if entry.last_ts is not None else None,
        "gaps": entry.gaps,
        "holes": entry.holes,
        "size_bytes": entry.size_bytes,
        "path": str(entry.path),
    }


def _gaps(missing: int, holes: int) -> str:
    if missing == 0:
        return "none"
    return f"{missing:,} missing bars in {holes:,} {'hole' if holes == 1 else 'holes'}"


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


@contextmanager
def _progress_bar(label: str) -> Iterator[_LazyBar]:
    bar = _LazyBar(label)
    try:
        yield bar
    finally:
        bar.close()


class _LazyBar:
    """A progress bar on stderr that appears only once the importer reports (large files only)."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._progress is None or self._task is None:
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("importing {task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                console=console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._label, total=total)
        self._progress.update(self._task, completed=done)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@app.command("download")
def download_bars(
    symbol: Annotated[str, typer.Option("--symbol", help="Unified symbol, e.g. BTC/USDT.")],
    timeframe: Annotated[
        str, typer.Option("--timeframe", help="Bar length: 1m, 3m, 5m, 15m, 30m, 1h, 4h or 1d.")
    ],
    since: Annotated[
        str,
        typer.Option(
            "--since", help="First bar: ISO-8601 date or time (UTC unless an offset is given) or epoch ms."
        ),
    ],
    until: Annotated[
        str | None,
        typer.Option("--until", help="Stop before this time (same forms as --since). Default: now."),
    ] = None,
    venue: Annotated[
        str, typer.Option("--venue", help="ccxt exchange id, e.g. binance, bybit, okx.")
    ] = "binance",
    sandbox: Annotated[
        bool,
        typer.Option("--sandbox", help="Use the venue's sandbox/testnet; stored as <venue>_sandbox."),
    ] = False,
    retries: Annotated[
        int, typer.Option("--retries", min=0, max=10, help="Retries of a request that failed transiently.")
    ] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
) -> None:
    """Download OHLCV bars from an exchange (public market data, no API key) into the store.

    Pages are fetched through ccxt and each is stored before the next is requested, so an
    interrupted download keeps what it got: run the same command again and it continues after the
    last stored bar (and fills in before the first, if --since is earlier), without duplicates.
    Only closed bars are stored. Shows a progress bar (bars fetched / expected) on stderr, then a
    summary: new rows, range, gaps. Kraken serves only its last 720 intervals."""
    import os

    from tradeforge.adapters.market_data.download import (
        DownloadError,
        DownloadRequest,
        download,
        transport_override_from_env,
    )
    from tradeforge.adapters.market_data.store import ParquetBarStore
    from tradeforge.domain.errors import ValidationError

    settings = load_settings()
    try:
        override = transport_override_from_env(os.environ)
        request = DownloadRequest(
            venue.strip().lower(),
            symbol,
            timeframe,
            _parse_time(since, "--since"),
            None if until is None else _parse_time(until, "--until"),
            sandbox,
            retries,
        )
    except ValidationError as error:
        fail(f"{error.field}: {error.message}")
    if override is not None:
        console(stderr=True).print(
            f"transport override (tests/development only): {override.describe()}",
            markup=False,
            soft_wrap=True,
        )
    bar = _DownloadBar(f"{request.venue} {symbol} {timeframe}")
    try:
        report = download(
            request,
            ParquetBarStore(settings.data_dir),
            session_factory=override.session if override is not None else None,
            on_progress=bar,
        )
    except DownloadError as error:
        bar.close()
        fail(f"{error}; {_resume_hint(error.progress)}" if error.transient else str(error))
    except ValidationError as error:
        bar.close()
        fail(f"{error.field}: {error.message}")
    except KeyboardInterrupt:
        bar.close()
        fail(f"interrupted; {_resume_hint(bar.last)}", code=130)
    except OSError as error:
        bar.close()
        fail(f"cannot write to {settings.data_dir}: {error.strerror or error}")
    bar.close()
    _print_download(report, as_json)


def _parse_time(text: str, option: str) -> int:
    """Epoch milliseconds of an ISO-8601 date/time (UTC unless it has an offset) or of epoch ms."""
    from datetime import UTC, datetime

    from tradeforge.adapters.market_data.bar_table import EARLIEST_MS
    from tradeforge.domain.errors import ValidationError

    value = text.strip()
    if value.isdigit():
        ms = int(value)
        if ms < EARLIEST_MS:
            raise ValidationError(option, f"{value} looks like epoch seconds; give milliseconds or a date")
        return ms
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(option, f"{value!r} is not a date (2025-03-01), a time or epoch ms") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _resume_hint(progress: DownloadProgress | None) -> str:
    if progress is None or progress.new_rows == 0:
        return "nothing new was stored; run the same command again to retry"
    return (
        f"{progress.new_rows:,} new bars were stored (up to {iso_ms(progress.last_new)}); "
        "run the same command again to resume"
    )


def _print_download(report: DownloadReport, as_json: bool) -> None:
    p = report.progress
    if as_json:
        summary = {
            "venue": report.venue,
            "symbol": report.symbol,
            "timeframe": report.timeframe,
            "start": iso_ms(report.start_ms),
            "end": iso_ms(report.end_ms),
            "resumed_from": iso_ms(report.resumed_from) if report.resumed_from is not None else None,
            "new_rows": p.new_rows,
            "expected": p.expected,
            "pages": p.pages,
            "requests": p.requests,
            "retries": p.retries,
            "first": iso_ms(report.first_ts) if report.first_ts is not None else None,
            "last": iso_ms(report.last_ts) if report.last_ts is not None else None,
            "gaps": report.gaps,
            "holes": report.holes,
            "missing_before": report.missing_before,
            "missing_after": report.missing_after,
            "stored_rows": report.stored_rows,
            "path": str(report.path),
            "notes": list(report.notes),
        }
        typer.echo(json.dumps(summary, indent=2))
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_row("dataset", f"{report.venue} {report.symbol} {report.timeframe}")
    grid.add_row("requested", f"{iso_ms(report.start_ms)} → {iso_ms(report.end_ms)} (end excluded)")
    resumed = "new download" if report.resumed_from is None else f"after {iso_ms(report.resumed_from)}"
    grid.add_row("resumed", resumed)
    grid.add_row(
        "new rows", f"{p.new_rows:,} in {p.pages:,} pages ({p.requests:,} requests, {p.retries} retried)"
    )
    grid.add_row(
        "range", f"{iso_ms(report.first_ts)} → {iso_ms(report.last_ts)} stored in the requested range"
    )
    edges = []
    if report.missing_before:
        edges.append(f"{report.missing_before:,} bars missing at the start")
    if report.missing_after:
        edges.append(f"{report.missing_after:,} at the end")
    grid.add_row("gaps", _gaps(report.gaps, report.holes) + (f"; {', '.join(edges)}" if edges else ""))
    grid.add_row("stored", f"{report.stored_rows:,} rows in {report.path}")
    for note in report.notes:
        grid.add_row("note", note)
    console().print(Panel(grid, title="bars downloaded", expand=False))


class _DownloadBar:
    """Bars fetched / expected on stderr: a rich bar on a terminal, one line per page otherwise."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self.last: DownloadProgress | None = None

    def __call__(self, progress: DownloadProgress) -> None:
        self.last = progress
        err = console(stderr=True)
        if not err.is_terminal:
            if progress.pages:
                err.print(
                    f"page {progress.pages}: {progress.new_rows:,} / {progress.expected:,} bars "
                    f"(up to {iso_ms(progress.last_new)})",
                    markup=False,
                )
            return
        if self._progress is None or self._task is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("downloading {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("bars"),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._label, total=progress.expected)
        self._progress.update(self._task, completed=progress.new_rows, total=max(progress.expected, 1))

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
