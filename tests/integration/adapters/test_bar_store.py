"""The Parquet bar store and the file importer on real files: layout, merge, atomicity, validation."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from tradeforge.adapters.market_data.bar_table import BAR_SCHEMA
from tradeforge.adapters.market_data.importer import import_bars
from tradeforge.adapters.market_data.store import ParquetBarStore
from tradeforge.domain.errors import ValidationError

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"
MINUTE = 60_000
HOUR = 3_600_000
T0 = 1_740_787_200_000  # 2025-03-01 00:00 UTC
HEADER = "timestamp,open,high,low,close,volume\n"


def bars(times: list[int], close: float = 100.0) -> dict[str, list[Any]]:
    """Valid bars at the given open times; close and the other prices move together."""
    return {
        "timestamp": times,
        "open": [close] * len(times),
        "high": [close + 1] * len(times),
        "low": [close - 1] * len(times),
        "close": [close] * len(times),
        "volume": [2.5] * len(times),
    }


def minutes(start: int, count: int) -> list[int]:
    return [T0 + (start + i) * MINUTE for i in range(count)]


@pytest.fixture
def store(tmp_path: Path) -> ParquetBarStore:
    return ParquetBarStore(tmp_path / "data")


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- store ---------------------------------------------------------------------------------------


def test_write_stores_sorted_zstd_parquet_at_the_documented_path(store: ParquetBarStore) -> None:
    times = minutes(0, 5)
    written = store.write("Binance", "btc/usdt", "1m", bars(list(reversed(times))))

    path = store.root / "binance" / "BTC-USDT" / "1m.parquet"
    assert written == 5
    assert store.path("binance", "BTC/USDT", "1m") == path
    assert files_under(store.root) == [path]
    metadata = pq.ParquetFile(path).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    table = store.read("binance", "BTC/USDT", "1m")
    assert table.schema.equals(BAR_SCHEMA)
    assert table.column("timestamp").to_pylist() == times
    assert table.column("close").to_pylist() == [100.0] * 5


def test_read_selects_a_half_open_range_and_a_missing_dataset_is_empty(store: ParquetBarStore) -> None:
    store.write("binance", "BTC/USDT", "1m", bars(minutes(0, 10)))

    window = store.read("binance", "BTC/USDT", "1m", start_ms=T0 + 2 * MINUTE, end_ms=T0 + 5 * MINUTE)
    tail = store.read("binance", "BTC/USDT", "1m", start_ms=T0 + 8 * MINUTE)
    head = store.read("binance", "BTC/USDT", "1m", end_ms=T0 + 2 * MINUTE)
    missing = store.read("binance", "ETH/USDT", "1m")

    assert window.column("timestamp").to_pylist() == minutes(2, 3)
    assert tail.column("timestamp").to_pylist() == minutes(8, 2)
    assert head.column("timestamp").to_pylist() == minutes(0, 2)
    assert missing.num_rows == 0 and missing.schema.equals(BAR_SCHEMA)
    assert store.last_timestamp("binance", "ETH/USDT", "1m") is None


def test_append_merges_with_new_rows_winning_and_stays_sorted_and_unique(store: ParquetBarStore) -> None:
    store.write("binance", "BTC/USDT", "1m", bars(minutes(0, 10), close=100.0))

    # Overlaps minutes 5-9 and adds 10-14, given out of order.
    result = store.append("binance", "BTC/USDT", "1m", bars(list(reversed(minutes(5, 10))), close=200.0))

    table = store.read("binance", "BTC/USDT", "1m")
    assert (result.rows, result.new_rows, result.replaced_rows) == (15, 5, 5)
    assert result.path == store.path("binance", "BTC/USDT", "1m")
    assert table.column("timestamp").to_pylist() == minutes(0, 15)
    assert table.column("close").to_pylist() == [100.0] * 5 + [200.0] * 10
    assert store.last_timestamp("binance", "BTC/USDT", "1m") == T0 + 14 * MINUTE


def test_appending_pages_resumes_from_the_last_stored_timestamp(store: ParquetBarStore) -> None:
    # How a downloader uses the store: ask where to resume, fetch a page from there, append it.
    pages = [minutes(0, 4), minutes(4, 4), minutes(8, 3)]
    resumed_from = []
    for page in pages:
        last = store.last_timestamp("binance", "ETH/USDT", "1m")
        resumed_from.append(last)
        since = T0 if last is None else last + MINUTE
        assert page[0] == since
        result = store.append("binance", "ETH/USDT", "1m", bars(page))
        assert result.new_rows == len(page) and result.replaced_rows == 0

    assert resumed_from == [None, T0 + 3 * MINUTE, T0 + 7 * MINUTE]
    assert store.read("binance", "ETH/USDT", "1m").column("timestamp").to_pylist() == minutes(0, 11)


def test_append_of_nothing_creates_nothing(store: ParquetBarStore) -> None:
    result = store.append("binance", "BTC/USDT", "1m", bars([]))

    assert (result.rows, result.new_rows, result.replaced_rows) == (0, 0, 0)
    assert files_under(store.root) == []


def test_write_replaces_the_whole_dataset(store: ParquetBarStore) -> None:
    store.write("binance", "BTC/USDT", "1m", bars(minutes(0, 10)))
    store.write("binance", "BTC/USDT", "1m", bars(minutes(20, 2), close=50.0))

    table = store.read("binance", "BTC/USDT", "1m")
    assert table.column("timestamp").to_pylist() == minutes(20, 2)
    assert table.column("close").to_pylist() == [50.0, 50.0]


def test_entries_list_every_dataset_with_rows_range_gaps_and_size(store: ParquetBarStore) -> None:
    # Hours 0-11 without 3, 4 and 8: three missing bars in two holes.
    hourly = [T0 + h * HOUR for h in range(12) if h not in (3, 4, 8)]
    store.write("binance", "BTC/USDT", "1h", bars(hourly))
    store.write("binance", "BTC/USDT", "1m", bars(minutes(0, 3)))
    store.write("okx", "ETH/USDT", "1d", bars([T0, T0 + 86_400_000]))
    # Neither a leftover temporary file nor foreign files are datasets.
    (store.root / "binance" / "BTC-USDT" / ".1m.parquet.abc.tmp").write_bytes(b"partial")
    (store.root / "binance" / "BTC-USDT" / "notes.txt").write_text("x")
    (store.root / "binance" / "BTC-USDT" / "7m.parquet").write_bytes(b"x")
    (store.root / "README.md").write_text("x")

    entries = store.entries()

    assert [(e.venue, e.symbol, e.timeframe) for e in entries] == [
        ("binance", "BTC/USDT", "1m"),
        ("binance", "BTC/USDT", "1h"),
        ("okx", "ETH/USDT", "1d"),
    ]
    hour = entries[1]
    assert (hour.rows, hour.first_ts, hour.last_ts) == (9, T0, T0 + 11 * HOUR)
    assert (hour.gaps, hour.holes) == (3, 2)
    assert hour.path == store.path("binance", "BTC/USDT", "1h")
    assert hour.size_bytes == hour.path.stat().st_size > 0
    assert (entries[0].gaps, entries[0].holes, entries[0].rows) == (0, 0, 3)
    assert ParquetBarStore(store.root / "nowhere").entries() == []


def test_a_failed_write_leaves_the_old_file_intact(
    store: ParquetBarStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write("binance", "BTC/USDT", "1m", bars(minutes(0, 10)))
    path = store.path("binance", "BTC/USDT", "1m")
    before = path.read_bytes()

    def disk_full(table: pa.Table, where: Any, **kwargs: Any) -> None:
        Path(where).write_bytes(b"PAR1 half a file")  # a write that dies midway
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", disk_full)
    with pytest.raises(OSError, match="No space left"):
        store.append("binance", "BTC/USDT", "1m", bars(minutes(10, 5)))
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert files_under(store.root) == [path]  # the temporary file is gone too
    assert store.read("binance", "BTC/USDT", "1m").column("timestamp").to_pylist() == minutes(0, 10)


def test_invalid_bars_are_refused_by_the_store_itself(store: ParquetBarStore) -> None:
    bad = bars(minutes(0, 3))
    bad["low"][1] = 150.0
    store.write("binance", "BTC/USDT", "1m", bars(minutes(0, 2)))
    before = store.path("binance", "BTC/USDT", "1m").read_bytes()

    with pytest.raises(ValidationError) as low:
        store.append("binance", "BTC/USDT", "1m", bad)
    with pytest.raises(ValidationError) as text:
        store.write("binance", "BTC/USDT", "1m", {**bars(minutes(0, 1)), "open": ["1"]})
    with pytest.raises(ValidationError) as missing:
        store.write("binance", "BTC/USDT", "1m", {"timestamp": [T0]})

    assert (low.value.field, low.value.message) == ("low", "row 2: low 150.0 is above open 100.0")
    assert text.value.field == "open" and "numeric" in text.value.message
    assert missing.value.field == "open"
    assert store.path("binance", "BTC/USDT", "1m").read_bytes() == before


@pytest.mark.parametrize(
    ("venue", "symbol", "timeframe", "field"),
    [
        ("bin/ance", "BTC/USDT", "1m", "venue"),
        ("", "BTC/USDT", "1m", "venue"),
        ("binance", "BTCUSDT", "1m", "symbol"),
        ("binance", "BTC-USDT", "1m", "symbol"),
        ("binance", "BTC/USDT", "2h", "timeframe"),
    ],
)
def test_dataset_names_are_validated(
    store: ParquetBarStore, venue: str, symbol: str, timeframe: str, field: str
) -> None:
    with pytest.raises(ValidationError) as error:
        store.path(venue, symbol, timeframe)

    assert error.value.field == field


def test_the_real_sample_round_trips_unchanged(store: ParquetBarStore, tmp_path: Path) -> None:
    source = pq.read_table(SAMPLE)

    store.write("binance", "BTC/USDT", "1m", source)
    written = store.read("binance", "BTC/USDT", "1m")
    report = import_bars(SAMPLE, store, "binance", "ETH/USDT", "1m")
    imported = store.read("binance", "ETH/USDT", "1m")

    assert source.num_rows == 10_080
    assert written.equals(source) and imported.equals(source)
    assert (report.rows, report.new_rows, report.gaps) == (10_080, 10_080, 0)
    assert store.last_timestamp("binance", "BTC/USDT", "1m") == source.column("timestamp")[-1].as_py()


# --- import ---------------------------------------------------------------------------------------


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_import_accepts_iso_times_in_a_date_column_and_any_column_order(
    store: ParquetBarStore, tmp_path: Path
) -> None:
    source = write_csv(
        tmp_path / "freqtrade.csv",
        "Date,Volume,Open,High,Low,Close,extra\n"
        "2025-03-01 00:02:00+00:00,3,10,11,9,10.5,x\n"  # out of order on purpose
        "2025-03-01T00:00:00Z,1, 10 ,11,9,10,x\n"
        "2025-03-01T01:01:00+01:00,2,10,11,9,10,x\n"  # 00:01 UTC
        "2025-03-01 00:03,4,10,11,9,10,x\n",  # no offset: UTC
    )

    report = import_bars(source, store, "binance", "BTC/USDT", "1m")

    table = store.read("binance", "BTC/USDT", "1m")
    assert table.column("timestamp").to_pylist() == minutes(0, 4)
    assert table.column("volume").to_pylist() == [1.0, 2.0, 3.0, 4.0]
    assert table.column("close").to_pylist() == [10.0, 10.0, 10.5, 10.0]
    assert (report.rows, report.first_ts, report.last_ts) == (4, T0, T0 + 3 * MINUTE)
    assert (report.venue, report.symbol, report.timeframe) == ("binance", "BTC/USDT", "1m")


def test_import_accepts_epoch_ms_in_a_time_column_and_a_parquet_timestamp_type(
    store: ParquetBarStore, tmp_path: Path
) -> None:
    csv_file = write_csv(tmp_path / "t.csv", "time,open,high,low,close,volume\n" + f"{T0},1,2,0.5,1.5,7\n")
    parquet_file = tmp_path / "typed.parquet"
    moments = [datetime(2025, 3, 1, 0, m, tzinfo=UTC) for m in (1, 2)]
    pq.write_table(
        pa.table(
            {
                "date": pa.array(moments, pa.timestamp("ns", tz="UTC")),
                **{
                    k: pa.array(v[:2], pa.float32())
                    for k, v in bars(minutes(1, 2)).items()
                    if k != "timestamp"
                },
            }
        ),
        parquet_file,
    )

    import_bars(csv_file, store, "binance", "BTC/USDT", "1m")
    import_bars(parquet_file, store, "binance", "BTC/USDT", "1m")

    table = store.read("binance", "BTC/USDT", "1m")
    assert table.column("timestamp").to_pylist() == minutes(0, 3)
    assert table.column("high").to_pylist() == [2.0, 101.0, 101.0]


def test_import_drops_identical_repeats_and_reports_the_merge(store: ParquetBarStore, tmp_path: Path) -> None:
    store.write("binance", "BTC/USDT", "1m", bars(minutes(0, 2), close=5.0))
    rows = [f"{t},100,101,99,100,2.5\n" for t in minutes(1, 3)]
    source = write_csv(tmp_path / "dups.csv", HEADER + "".join(rows) + rows[0] + rows[2])

    report = import_bars(source, store, "binance", "BTC/USDT", "1m")

    assert (report.rows, report.duplicates, report.new_rows, report.replaced_rows) == (3, 2, 2, 1)
    assert report.stored_rows == 4
    assert store.read("binance", "BTC/USDT", "1m").column("close").to_pylist() == [5.0, 100, 100, 100]


def test_import_reports_gaps_of_the_imported_range(store: ParquetBarStore, tmp_path: Path) -> None:
    times = [t for i, t in enumerate(minutes(0, 20)) if i not in (5, 6, 7, 12)]
    source = tmp_path / "gappy.parquet"
    pq.write_table(pa.table(bars(times)), source)

    report = import_bars(source, store, "binance", "BTC/USDT", "1m")

    assert (report.gaps, report.holes) == (4, 2)


OK = f"{T0},1,2,0.5,1,1\n"  # a valid first row
M1 = T0 + MINUTE
CASES: list[tuple[str, str, str, str]] = [
    # (name, CSV body after a full header, field, message fragment naming the row)
    ("not a number", OK + f"{M1},1,2,0.5,abc,1\n", "close", "row 2: 'abc' is not a number"),
    ("empty value", OK + f"{M1},1,,0.5,1,1\n", "high", "row 2: empty value"),
    ("not finite", OK + f"{M1},nan,2,0.5,1,1\n", "open", "row 2: nan is not a finite"),
    ("infinite", f"{T0},1,2,0.5,1,inf\n", "volume", "row 1: inf is not a finite"),
    ("negative volume", OK + f"{M1},1,2,0.5,1,-3\n", "volume", "row 2: volume -3.0"),
    ("high below open", f"{T0},3,2,0.5,1,1\n", "high", "row 1: high 2.0 is below open 3.0"),
    ("high below close", f"{T0},1,2,0.5,2.5,1\n", "high", "row 1: high 2.0 is below close 2.5"),
    ("low above open", f"{T0},1,2,1.5,1.8,1\n", "low", "row 1: low 1.5 is above open 1.0"),
    ("low above close", OK + f"{M1},1.5,2,1.2,1.1,1\n", "low", "row 2: low 1.2 is above close"),
    ("not on the grid", OK + f"{T0 + 90_000},1,2,0.5,1,1\n", "timestamp", "row 2: 1740787290000"),
    (
        "epoch seconds",
        f"{T0 // 1000},1,2,0.5,1,1\n",
        "timestamp",
        "row 1: 1740787200 looks like epoch seconds, not milliseconds",
    ),
    ("not epoch ms", OK + "2025-03-01T00:01:00Z,1,2,0.5,1,1\n", "timestamp", "row 2: '2025-03-01T"),
    (
        "conflicting repeat",
        OK + f"{M1},1,2,0.5,1,1\n{T0},1,2,0.5,1.5,1\n",
        "timestamp",
        "row 3: 1740787200000 (2025-03-01T00:00:00Z) repeats row 1 with different values",
    ),
]


@pytest.mark.parametrize(("body", "field", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_names_the_column_and_the_first_offending_row_and_writes_nothing(
    store: ParquetBarStore, tmp_path: Path, body: str, field: str, fragment: str
) -> None:
    source = write_csv(tmp_path / "bad.csv", HEADER + body)

    with pytest.raises(ValidationError) as error:
        import_bars(source, store, "binance", "BTC/USDT", "1m")

    assert error.value.field == field
    assert fragment in error.value.message
    assert files_under(store.root) == []


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("timestamp,open,high,low,close\n1,2,3,4,5\n", "volume", "missing column 'volume'"),
        ("open,high,low,close,volume\n1,2,0,1,1\n", "timestamp", "the file has none"),
        ("date,time,open,high,low,close,volume\n", "timestamp", "has 2 (date, time)"),
        ("date,open,high,low,close,volume\n2025-02-30,1,2,0.5,1,1\n", "date", "row 1: '2025-02-30' is not"),
        (HEADER, "file", "holds no rows"),
        ("", "file", "empty file"),
    ],
)
def test_file_level_problems_are_named(
    store: ParquetBarStore, tmp_path: Path, text: str, field: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as error:
        import_bars(write_csv(tmp_path / "f.csv", text), store, "binance", "BTC/USDT", "1m")

    assert error.value.field == field and fragment in error.value.message
    assert files_under(store.root) == []


def test_missing_unknown_and_corrupt_files_are_refused(store: ParquetBarStore, tmp_path: Path) -> None:
    (tmp_path / "bars.json").write_text("{}")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    messages = []
    for name in ("absent.csv", "bars.json", "broken.parquet"):
        with pytest.raises(ValidationError) as error:
            import_bars(tmp_path / name, store, "binance", "BTC/USDT", "1m")
        assert error.value.field == "file"
        messages.append(error.value.message)

    assert messages[0].startswith("no such file")
    assert "expected a .csv or .parquet file" in messages[1]
    assert "not a readable Parquet file" in messages[2]


def test_an_invalid_file_leaves_existing_data_untouched(store: ParquetBarStore, tmp_path: Path) -> None:
    store.write("binance", "BTC/USDT", "1m", bars(minutes(0, 3)))
    before = store.path("binance", "BTC/USDT", "1m").read_bytes()
    # Valid new bars first, then one broken row: all or nothing.
    body = "".join(f"{t},1,2,0.5,1,1\n" for t in minutes(3, 50)) + f"{T0 + 53 * MINUTE},1,2,0.5,1,-1\n"

    with pytest.raises(ValidationError, match="row 51"):
        import_bars(write_csv(tmp_path / "late.csv", HEADER + body), store, "binance", "BTC/USDT", "1m")

    assert store.path("binance", "BTC/USDT", "1m").read_bytes() == before


ProgressLog = list[tuple[int, int]]


def recorder() -> tuple[ProgressLog, Callable[[int, int], None]]:
    calls: ProgressLog = []
    return calls, lambda done, total: calls.append((done, total))


def test_large_files_are_read_in_chunks_with_progress_and_global_row_numbers(
    store: ParquetBarStore, tmp_path: Path
) -> None:
    source = pq.read_table(SAMPLE)
    calls, progress = recorder()

    import_bars(SAMPLE, store, "binance", "BTC/USDT", "1m", progress=progress, chunk_rows=4_000)

    assert calls == [(4_000, 10_080), (8_000, 10_080), (10_080, 10_080)]
    assert store.read("binance", "BTC/USDT", "1m").equals(source)
    # An error deep in a later chunk (CSV blocks of 64 KiB here) carries its row number in the file.
    broken = source.to_pydict()
    broken["low"][9_000] = broken["high"][9_000] + 1
    csv_file = tmp_path / "big.csv"
    pcsv.write_csv(pa.table(broken), csv_file)
    csv_calls, csv_progress = recorder()
    with pytest.raises(ValidationError) as error:
        import_bars(csv_file, store, "binance", "ETH/USDT", "1m", progress=csv_progress, chunk_rows=1)
    assert error.value.field == "low" and error.value.message.startswith("row 9001: ")
    assert len(csv_calls) > 1 and all(total == os.path.getsize(csv_file) for _, total in csv_calls)
    # A conflicting repeat across chunks is found too.
    repeated = source.to_pydict()
    repeated["timestamp"][9_500] = repeated["timestamp"][10]
    repeat_file = tmp_path / "repeat.parquet"
    pq.write_table(pa.table(repeated), repeat_file)
    with pytest.raises(ValidationError, match=r"row 9501: .* repeats row 11 with different values"):
        import_bars(repeat_file, store, "binance", "ETH/USDT", "1m", chunk_rows=4_000)
    assert store.read("binance", "ETH/USDT", "1m").num_rows == 0


def test_small_files_report_no_progress(store: ParquetBarStore, tmp_path: Path) -> None:
    calls, progress = recorder()

    import_bars(SAMPLE, store, "binance", "BTC/USDT", "1m", progress=progress)

    assert calls == []
