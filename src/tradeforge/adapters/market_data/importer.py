"""Import an OHLCV file (CSV or Parquet) into the bar store, validated in chunks, all or nothing.

Accepted input (see docs/cli.md, `tradeforge data import`):

- A file ending in `.csv`, or `.parquet` / `.pq`.
- Columns, matched case-insensitively and in any order (other columns are ignored): `open`, `high`,
  `low`, `close`, `volume` and exactly one time column named `timestamp`, `date` or `time` holding
  the bar's **open** time. A CSV needs a header row.
- Time values: integer epoch milliseconds, or ISO-8601 text as read by Python's
  `datetime.fromisoformat` (`2025-03-01T00:00:00Z`, `2025-03-01 00:00:00+00:00`, `2025-03-01 00:00`,
  `2025-03-01`); text without an offset is UTC, an offset is converted to UTC. The first row decides
  which of the two a CSV uses. A Parquet time column may also be an integer or an Arrow timestamp
  type (naive = UTC). Epoch seconds are refused (as is any time before 1973-03-03, which is how
  they show).
- Values: numbers (in a CSV, surrounding spaces are ignored; `1e3` is fine, `1,000` is not).

Rules, each reported as ValidationError(column, "row N: ...") for the first offending row, where row
1 is the first data row (a CSV's header is not a row): no empty value, finite numbers, volume >= 0,
low <= open, close <= high, times on the timeframe's grid (a 1h bar opens at a whole hour), and a
time repeated in the file only with identical values (such repeats are dropped). Rows may come in any
order. Nothing is written unless the whole file passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tradeforge.adapters.market_data.bar_table import (
    COLUMNS,
    VALUE_COLUMNS,
    check_rows,
    empty_table,
    gap_stats,
    sort_unique,
)
from tradeforge.adapters.market_data.store import ParquetBarStore, dataset_key
from tradeforge.domain.errors import ValidationError

TIME_COLUMNS = ("timestamp", "date", "time")
CHUNK_ROWS = 65_536
# Rough bytes per CSV row, to size the CSV reader's blocks like the Parquet batches.
CSV_ROW_BYTES = 64
PARQUET_SUFFIXES = (".parquet", ".pq")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
DIGITS = re.compile(r"^-?[0-9]+$")

# Called as progress(done, total) after each chunk of a large file (rows for Parquet, bytes for CSV).
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did. `rows` distinct bars read (after dropping `duplicates`, identical repeats);
    `new_rows` were not stored before, `replaced_rows` overwrote stored bars; `gaps`/`holes` are the
    absent bar slots (and their runs) between first_ts and last_ts in the store after the import."""

    source: Path
    venue: str
    symbol: str
    timeframe: str
    path: Path
    rows: int
    duplicates: int
    new_rows: int
    replaced_rows: int
    first_ts: int
    last_ts: int
    gaps: int
    holes: int
    stored_rows: int


def import_bars(
    source: Path,
    store: ParquetBarStore,
    venue: str,
    symbol: str,
    timeframe: str,
    *,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportReport:
    """Read, validate and merge `source` into the store (file bars win over stored ones on equal
    times); raises ValidationError naming the column and first offending row, writing nothing."""
    venue_id, parsed, _ = dataset_key(venue, symbol, timeframe)
    target = store.path(venue, symbol, timeframe)
    reader = _reader(Path(source), max(1, chunk_rows))
    chunks: list[pa.Table] = []
    for batch, done in reader.batches():
        first_row = 1 + sum(c.num_rows for c in chunks)
        table = _typed(batch, reader, first_row)
        check_rows(table, timeframe, first_row=first_row, names=reader.names)
        chunks.append(table)
        if progress is not None and reader.large:
            progress(min(done, reader.total), reader.total)
    table = pa.concat_tables(chunks) if chunks else empty_table()
    if table.num_rows == 0:
        raise ValidationError("file", "the file holds no rows")
    unique, duplicates = sort_unique(table)
    result = store.append(venue, symbol, timeframe, unique)
    first, last = unique.column("timestamp")[0].as_py(), unique.column("timestamp")[-1].as_py()
    stored = store.read(venue, symbol, timeframe, first, last + 1).column("timestamp")
    gaps, holes = gap_stats(stored, timeframe)
    return ImportReport(
        source=Path(source),
        venue=venue_id,
        symbol=str(parsed),
        timeframe=timeframe,
        path=target,
        rows=int(unique.num_rows),
        duplicates=duplicates,
        new_rows=result.new_rows,
        replaced_rows=result.replaced_rows,
        first_ts=int(first),
        last_ts=int(last),
        gaps=gaps,
        holes=holes,
        stored_rows=result.rows,
    )


@dataclass
class _Reader:
    """A file opened for chunked reading; `names` maps schema columns to the file's column names."""

    path: Path
    names: dict[str, str]
    total: int
    large: bool
    batches: Callable[[], Iterator[tuple[pa.RecordBatch, int]]]
    time_mode: str | None = field(default=None)  # "epoch" or "iso", fixed by the first CSV row


def _reader(source: Path, chunk_rows: int) -> _Reader:
    if not source.is_file():
        raise ValidationError("file", f"no such file: {source}")
    suffix = source.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return _parquet_reader(source, chunk_rows)
    if suffix == ".csv":
        return _csv_reader(source, chunk_rows)
    raise ValidationError("file", f"expected a .csv or .parquet file, not {source.name!r}")


def _resolve(source: Path, found: list[str]) -> dict[str, str]:
    lowered: dict[str, str] = {}
    for name in found:
        key = name.strip().lower()
        if key in lowered:
            raise ValidationError(key, f"column {key!r} appears twice")
        lowered[key] = name
    times = [name for name in TIME_COLUMNS if name in lowered]
    if len(times) != 1:
        problem = "has none" if not times else f"has {len(times)} ({', '.join(times)})"
        raise ValidationError(
            "timestamp",
            f"needs exactly one time column named timestamp, date or time; the file {problem}",
        )
    names = {"timestamp": lowered[times[0]]}
    for column in VALUE_COLUMNS:
        if column not in lowered:
            shown = ", ".join(found) or "none"
            raise ValidationError(column, f"missing column {column!r} (the file has: {shown})")
        names[column] = lowered[column]
    return names


def _parquet_reader(source: Path, chunk_rows: int) -> _Reader:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source)
    except (pa.ArrowException, OSError) as error:
        raise ValidationError("file", f"not a readable Parquet file ({error})") from error
    names = _resolve(source, list(parquet.schema_arrow.names))
    total = int(parquet.metadata.num_rows)

    def batches() -> Iterator[tuple[pa.RecordBatch, int]]:
        done = 0
        try:
            for batch in parquet.iter_batches(batch_size=chunk_rows, columns=list(names.values())):
                done += batch.num_rows
                yield batch, done
        except (pa.ArrowException, OSError) as error:
            raise ValidationError("file", f"not a readable Parquet file ({error})") from error

    return _Reader(source, names, total, total > chunk_rows, batches)


def _csv_reader(source: Path, chunk_rows: int) -> _Reader:
    import csv

    import pyarrow.csv as pcsv

    with source.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise ValidationError("file", "empty file (a CSV needs a header row)")
    names = _resolve(source, header)
    total = source.stat().st_size
    block = max(64 * 1024, chunk_rows * CSV_ROW_BYTES)

    def batches() -> Iterator[tuple[pa.RecordBatch, int]]:
        with source.open("rb") as raw:
            try:
                stream = pcsv.open_csv(
                    raw,
                    read_options=pcsv.ReadOptions(block_size=block, use_threads=False),
                    convert_options=pcsv.ConvertOptions(
                        include_columns=list(names.values()),
                        column_types=dict.fromkeys(names.values(), pa.string()),
                        strings_can_be_null=False,
                    ),
                )
                for batch in stream:
                    yield batch, raw.tell()
            except (pa.ArrowException, OSError, UnicodeDecodeError) as error:
                raise ValidationError("file", f"not a readable CSV file ({error})") from error

    return _Reader(source, names, total, total > block, batches)


def _typed(batch: pa.RecordBatch, reader: _Reader, first_row: int) -> pa.Table:
    """The batch as timestamp int64 and float64 values; unparsable cells name their row."""
    arrays = [_times(batch.column(reader.names["timestamp"]), reader, first_row)]
    for column in VALUE_COLUMNS:
        arrays.append(_numbers(batch.column(reader.names[column]), reader.names[column], first_row))
    return pa.Table.from_arrays(arrays, names=list(COLUMNS))


def _numbers(values: pa.Array, name: str, first_row: int) -> pa.Array:
    kind = values.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return pc.cast(values, pa.float64())
    if pa.types.is_decimal(kind):
        return pc.cast(values, pa.float64(), safe=False)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        trimmed = pc.utf8_trim_whitespace(values)
        try:
            return pc.cast(trimmed, pa.float64())
        except pa.ArrowInvalid:
            index = _first_uncastable(trimmed, pa.float64())
            text = trimmed[index].as_py()
            problem = "empty value" if text == "" else f"{text!r} is not a number"
            raise ValidationError(name, f"row {first_row + index}: {problem}") from None
    raise ValidationError(name, f"column type {kind} is not numeric")


def _times(values: pa.Array, reader: _Reader, first_row: int) -> pa.Array:
    name = reader.names["timestamp"]
    kind = values.type
    if pa.types.is_integer(kind):
        return pc.cast(values, pa.int64())
    if pa.types.is_timestamp(kind):
        try:
            as_ms = pc.cast(values, pa.timestamp("ms", tz=kind.tz))
        except pa.ArrowInvalid:
            raise ValidationError(name, "times finer than a millisecond") from None
        return pc.cast(as_ms, pa.int64())
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise ValidationError(name, f"must be epoch milliseconds, ISO-8601 text or a timestamp, not {kind}")
    trimmed = pc.utf8_trim_whitespace(values)
    if len(trimmed) == 0:
        return pa.array([], pa.int64())
    if reader.time_mode is None:
        reader.time_mode = "epoch" if DIGITS.match(trimmed[0].as_py() or "") else "iso"
    if reader.time_mode == "epoch":
        numeric = pc.match_substring_regex(trimmed, DIGITS.pattern)
        bad = pc.index(numeric, False).as_py()
        if bad >= 0:
            raise ValidationError(
                name,
                f"row {first_row + bad}: {trimmed[bad].as_py()!r} is not epoch milliseconds "
                "(the first row was, so every row must be)",
            )
        return pc.cast(trimmed, pa.int64())
    texts = trimmed.to_pylist()
    return pa.array([_iso_ms(text, name, first_row + i) for i, text in enumerate(texts)], pa.int64())


def _iso_ms(text: Any, name: str, row: int) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        # Row 1 chose the ISO format; later rows are held to the choice row 1 made.
        why = "nor epoch milliseconds" if row == 1 else "(the first row was, so every row must be)"
        raise ValidationError(name, f"row {row}: {text!r} is not an ISO-8601 time {why}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    whole, rest = divmod(moment - EPOCH, ONE_MS)
    if rest:
        raise ValidationError(name, f"row {row}: {text!r} is finer than a millisecond")
    return int(whole)


def _first_uncastable(values: pa.Array, target: pa.DataType) -> int:
    """Index of the first value that does not cast (binary search: a handful of casts, not one per row)."""
    low, high = 0, len(values)
    while high - low > 1:
        middle = (low + high) // 2
        try:
            pc.cast(values.slice(low, middle - low), target)
        except pa.ArrowInvalid:
            high = middle
        else:
            low = middle
    return low
