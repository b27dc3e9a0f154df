"""Parquet store of OHLCV bars, one file per venue, symbol and timeframe, replaced atomically.

Layout under the root (the `data_dir` setting)::

    <root>/<venue>/<BASE>-<QUOTE>/<timeframe>.parquet     e.g. var/data/binance/BTC-USDT/1m.parquet

`venue` is a lower-case ccxt-style exchange id (`binance`, `okx`, `paper`), the symbol directory is the
unified symbol with `-` for `/` (symbols cannot contain `-`), and `timeframe` is one of
domain.data.TIMEFRAME_MS. Each file has the schema of shared/data: `timestamp` (int64, bar open, epoch
ms UTC), `open`, `high`, `low`, `close`, `volume` (float64); zstd-compressed, sorted by timestamp,
no repeated timestamps, every timestamp on the timeframe's grid (and not before 1973-03-03, which
is how epoch seconds given by mistake show). Rows break no rule of bar_table.check_rows.

Every change writes a complete new file next to the old one and renames it over it (os.replace), so
a reader always sees either the old or the new file, and a failed write leaves the old file as it
was. One writer per dataset at a time: two concurrent appends to the same file can lose one of them.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tradeforge.adapters.market_data.bar_table import (
    BAR_SCHEMA,
    COLUMNS,
    BarData,
    as_bar_table,
    check_rows,
    empty_table,
    gap_stats,
    sort_unique,
    timeframe_ms,
)
from tradeforge.domain.data import TIMEFRAME_MS
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.identifiers import Symbol
from tradeforge.durable import fsync_directory

VENUE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SYMBOL_DIR_PATTERN = re.compile(r"^([A-Z0-9]{1,20})-([A-Z0-9]{1,20})$")
SUFFIX = ".parquet"
# Row groups of this size let a range read or last_timestamp() skip most of a long file.
ROW_GROUP_ROWS = 131_072


@dataclass(frozen=True, slots=True)
class StoreEntry:
    """One stored dataset. `gaps` counts absent bar slots between first_ts and last_ts; `holes` counts
    the runs they form (one outage of 3 hours in 1h bars: gaps 3, holes 1)."""

    venue: str
    symbol: str
    timeframe: str
    rows: int
    first_ts: int | None
    last_ts: int | None
    gaps: int
    holes: int
    path: Path
    size_bytes: int


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append changed: `rows` stored afterwards, `new_rows` whose timestamp was not stored
    before, `replaced_rows` whose stored bar was overwritten by the new one."""

    path: Path
    rows: int
    new_rows: int
    replaced_rows: int


class ParquetBarStore:
    """Bars by venue / symbol / timeframe under `root`; see the module docstring for the layout."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    @property
    def root(self) -> Path:
        return self._root

    def path(self, venue: str, symbol: str, timeframe: str) -> Path:
        """The file of one dataset (whether or not it exists); invalid names are a ValidationError."""
        venue_id, parsed, frame = dataset_key(venue, symbol, timeframe)
        return self._root / venue_id / f"{parsed.base}-{parsed.quote}" / f"{frame}{SUFFIX}"

    def write(self, venue: str, symbol: str, timeframe: str, bars: BarData) -> int:
        """Replace the dataset with `bars` (a pyarrow Table/RecordBatch or a mapping of columns);
        returns the rows stored. Rows may come in any order; identical repeats are dropped."""
        target = self.path(venue, symbol, timeframe)
        table = _normalised(bars, timeframe)
        self._replace(target, table, venue, symbol, timeframe)
        return int(table.num_rows)

    def append(self, venue: str, symbol: str, timeframe: str, bars: BarData) -> AppendResult:
        """Merge `bars` into the dataset: on equal timestamps the new bar wins; the result stays sorted
        and unique. Creates the dataset if needed; an empty `bars` changes nothing."""
        target = self.path(venue, symbol, timeframe)
        new = _normalised(bars, timeframe)
        old = self._read_file(target) if target.exists() else empty_table()
        if new.num_rows == 0:
            return AppendResult(target, int(old.num_rows), 0, 0)
        if old.num_rows and new.column("timestamp")[0].as_py() > old.column("timestamp")[-1].as_py():
            # The downloader's case: a page after the last stored bar needs no merge.
            merged, replaced = pa.concat_tables([old, new]), 0
        else:
            overwritten = pc.is_in(old.column("timestamp"), value_set=new.column("timestamp"))
            kept = old.filter(pc.invert(overwritten))
            replaced = int(old.num_rows - kept.num_rows)
            merged = pa.concat_tables([kept, new]).sort_by("timestamp")
        self._replace(target, merged, venue, symbol, timeframe)
        return AppendResult(target, int(merged.num_rows), int(new.num_rows) - replaced, replaced)

    def read(
        self,
        venue: str,
        symbol: str,
        timeframe: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> pa.Table:
        """Bars with start_ms <= timestamp < end_ms (either bound optional), sorted; an empty table
        when the dataset does not exist."""
        target = self.path(venue, symbol, timeframe)
        if not target.exists():
            return empty_table()
        filters = []
        if start_ms is not None:
            filters.append(("timestamp", ">=", int(start_ms)))
        if end_ms is not None:
            filters.append(("timestamp", "<", int(end_ms)))
        return self._read_file(target, filters or None)

    def last_timestamp(self, venue: str, symbol: str, timeframe: str) -> int | None:
        """The open time of the newest stored bar (where a download resumes), None when nothing is stored."""
        target = self.path(venue, symbol, timeframe)
        if not target.exists():
            return None
        metadata = _open(target).metadata
        if metadata.num_rows == 0:
            return None
        # Files are sorted, so the last row group's max statistic is the last timestamp.
        index = metadata.schema.to_arrow_schema().get_field_index("timestamp")
        group = metadata.row_group(metadata.num_row_groups - 1)
        stats = group.column(index).statistics
        if stats is not None and stats.has_min_max:
            return int(stats.max)
        column = self._read_file(target).column("timestamp")
        return int(column[-1].as_py())

    def entries(self) -> list[StoreEntry]:
        """Every dataset under the root, by venue, symbol and timeframe (shortest first)."""
        if not self._root.is_dir():
            return []
        found: list[StoreEntry] = []
        order = list(TIMEFRAME_MS)
        for venue_dir in sorted(p for p in self._root.iterdir() if p.is_dir()):
            if not VENUE_PATTERN.match(venue_dir.name):
                continue
            for symbol_dir in sorted(p for p in venue_dir.iterdir() if p.is_dir()):
                match = SYMBOL_DIR_PATTERN.match(symbol_dir.name)
                if match is None:
                    continue
                files = [p for p in symbol_dir.glob(f"*{SUFFIX}") if p.stem in TIMEFRAME_MS]
                for file in sorted(files, key=lambda p: order.index(p.stem)):
                    found.append(self._entry(venue_dir.name, f"{match[1]}/{match[2]}", file.stem, file))
        return found

    def _entry(self, venue: str, symbol: str, timeframe: str, file: Path) -> StoreEntry:
        timestamps = self._read_file(file, columns=["timestamp"]).column("timestamp")
        rows = len(timestamps)
        gaps, holes = gap_stats(timestamps, timeframe)
        return StoreEntry(
            venue=venue,
            symbol=symbol,
            timeframe=timeframe,
            rows=rows,
            first_ts=int(timestamps[0].as_py()) if rows else None,
            last_ts=int(timestamps[rows - 1].as_py()) if rows else None,
            gaps=gaps,
            holes=holes,
            path=file,
            size_bytes=file.stat().st_size,
        )

    def _read_file(
        self,
        file: Path,
        filters: list[tuple[str, str, int]] | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        try:
            table = pq.read_table(file, columns=columns or list(COLUMNS), filters=filters)
        except (pa.ArrowException, OSError) as error:
            raise ValidationError("path", f"{file}: not a readable bar file ({error})") from error
        return table.combine_chunks()

    def _replace(self, target: Path, table: pa.Table, venue: str, symbol: str, timeframe: str) -> None:
        venue_id, parsed, frame = dataset_key(venue, symbol, timeframe)
        table = table.cast(BAR_SCHEMA).replace_schema_metadata(
            {"tradeforge.venue": venue_id, "tradeforge.symbol": str(parsed), "tradeforge.timeframe": frame}
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        # Hidden name in the same directory: os.replace is atomic only within one file system,
        # and entries() skips the dot file should a crash leave it behind.
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(handle)
        temp = Path(temp_name)
        try:
            pq.write_table(table, temp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
            with temp.open("rb+") as written:
                os.fsync(written.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        fsync_directory(target.parent)


def dataset_key(venue: str, symbol: str, timeframe: str) -> tuple[str, Symbol, str]:
    """The normalised (venue id, symbol, timeframe) of a dataset; invalid names are a ValidationError."""
    venue_id = venue.strip().lower() if isinstance(venue, str) else ""
    if not VENUE_PATTERN.match(venue_id):
        raise ValidationError(
            "venue", f"{venue!r} is not a venue id (a letter, then up to 31 of a-z, 0-9, _; e.g. 'binance')"
        )
    timeframe_ms(timeframe)
    return venue_id, Symbol.parse(symbol), timeframe


def _normalised(bars: BarData, timeframe: str) -> pa.Table:
    table = as_bar_table(bars)
    check_rows(table, timeframe)
    unique, _ = sort_unique(table)
    return unique


def _open(file: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(file)
    except (pa.ArrowException, OSError) as error:
        raise ValidationError("path", f"{file}: not a readable bar file ({error})") from error
