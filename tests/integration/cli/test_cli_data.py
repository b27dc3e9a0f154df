"""`tradeforge data import` and `data list` on real files in a temporary data directory."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from tradeforge.adapters.market_data.store import ParquetBarStore
from tradeforge.cli.main import app

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"
HOURLY = Path("/work/shared/data/binance_spot_hourly_daily/BTCUSDT_1h.parquet")
HOUR = 3_600_000


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory (no tradeforge.toml) with TRADEFORGE_DATA_DIR inside tmp_path."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("TRADEFORGE_")]:
        if name not in ("TRADEFORGE_REQUIRE_SERVICES", "TRADEFORGE_TEST_POSTGRES_ADMIN_URL"):
            monkeypatch.delenv(name)
    target = tmp_path / "market-data"
    monkeypatch.setenv("TRADEFORGE_DATA_DIR", str(target))
    # Wide enough that table rows and tmp paths stay on one line.
    monkeypatch.setenv("COLUMNS", "300")
    return target


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def sample_as_csv(path: Path) -> Path:
    """The sample with an ISO-8601 `date` column instead of epoch ms, as freqtrade exports it."""
    table = pq.read_table(SAMPLE)
    dates = [
        datetime.fromtimestamp(ms / 1000, UTC).isoformat() for ms in table.column("timestamp").to_pylist()
    ]
    pcsv.write_csv(table.drop_columns(["timestamp"]).add_column(0, "date", pa.array(dates)), path)
    return path


def test_import_of_the_sample_parquet_stores_it_and_prints_a_summary(
    runner: CliRunner, data_dir: Path
) -> None:
    result = invoke(runner, "data", "import", str(SAMPLE), "--symbol", "BTC/USDT", "--timeframe", "1m")

    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "binance BTC/USDT 1m" in out
    assert "10,080 imported" in out and "new rows 10,080" in out
    assert "2025-03-01T00:00:00Z → 2025-03-07T23:59:00Z" in out
    assert "gaps none" in out
    stored = ParquetBarStore(data_dir).read("binance", "BTC/USDT", "1m")
    assert stored.equals(pq.read_table(SAMPLE))
    assert (data_dir / "binance" / "BTC-USDT" / "1m.parquet").is_file()


def test_a_csv_of_the_same_bars_merges_without_new_rows_and_list_shows_the_datasets(
    runner: CliRunner, data_dir: Path, tmp_path: Path
) -> None:
    csv_file = sample_as_csv(tmp_path / "BTC_USDT-1m.csv")
    first = invoke(runner, "data", "import", str(SAMPLE), "--symbol", "BTC/USDT", "--timeframe", "1m")
    again = invoke(runner, "data", "import", str(csv_file), "--symbol", "btc/usdt", "--timeframe", "1m")
    other = invoke(
        runner, "data", "import", str(csv_file), "--symbol", "BTC/USDT", "--timeframe", "1m", "--venue", "okx"
    )

    assert first.exit_code == again.exit_code == other.exit_code == 0, again.output + other.output
    assert "new rows 0 (10,080 were stored already, replaced)" in " ".join(again.stdout.split())
    assert ParquetBarStore(data_dir).read("okx", "BTC/USDT", "1m").equals(pq.read_table(SAMPLE))

    table = invoke(runner, "data", "list")
    raw = invoke(runner, "data", "list", "--json")

    assert table.exit_code == 0 and raw.exit_code == 0
    lines = [line for line in table.stdout.splitlines() if "BTC/USDT" in line]
    assert len(lines) == 2
    assert all(word in lines[0] for word in ("binance", "1m", "10,080", "2025-03-01T00:00:00Z", "none"))
    assert "okx" in lines[1]
    items = json.loads(raw.stdout)["items"]
    assert [(i["venue"], i["symbol"], i["timeframe"], i["rows"], i["gaps"]) for i in items] == [
        ("binance", "BTC/USDT", "1m", 10_080, 0),
        ("okx", "BTC/USDT", "1m", 10_080, 0),
    ]
    assert items[0]["first_ts"] == 1_740_787_200_000 and items[0]["last"] == "2025-03-07T23:59:00Z"
    assert items[0]["size_bytes"] == Path(items[0]["path"]).stat().st_size


def test_list_of_an_empty_store(runner: CliRunner, data_dir: Path) -> None:
    table = invoke(runner, "data", "list")
    raw = invoke(runner, "data", "list", "--json")

    assert table.exit_code == 0 and "no bars stored in" in table.stdout
    assert json.loads(raw.stdout) == {"items": []}


@pytest.mark.parametrize(
    ("content", "args", "problem"),
    [
        (
            "timestamp,open,high,low,close,volume\n1740787200000,1,2,0.5,1,1\n1740787260000,1,2,1.5,1,1\n",
            ("--symbol", "BTC/USDT", "--timeframe", "1m"),
            "bad.csv: low: row 2: low 1.5 is above open 1.0",
        ),
        (
            "timestamp,open,high,low,close\n1740787200000,1,2,0.5,1\n",
            ("--symbol", "BTC/USDT", "--timeframe", "1m"),
            "bad.csv: volume: missing column 'volume'",
        ),
        (
            "timestamp,open,high,low,close,volume\n1740787200000,1,2,0.5,1,1\n",
            ("--symbol", "BTCUSDT", "--timeframe", "1m"),
            "bad.csv: symbol: 'BTCUSDT' is not a unified symbol",
        ),
        (
            "timestamp,open,high,low,close,volume\n1740787200000,1,2,0.5,1,1\n",
            ("--symbol", "BTC/USDT", "--timeframe", "2h"),
            "bad.csv: timeframe: unknown timeframe '2h'",
        ),
    ],
    ids=["ohlc rule", "missing column", "bad symbol", "bad timeframe"],
)
def test_a_bad_file_exits_1_with_one_line_naming_the_problem(
    runner: CliRunner, data_dir: Path, tmp_path: Path, content: str, args: tuple[str, ...], problem: str
) -> None:
    (tmp_path / "bad.csv").write_text(content)

    result = invoke(runner, "data", "import", "bad.csv", *args)

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot import ")
    assert problem in lines[0]
    assert not data_dir.exists()


def test_a_missing_file_exits_1(runner: CliRunner, data_dir: Path) -> None:
    result = invoke(runner, "data", "import", "nowhere.parquet", "--symbol", "BTC/USDT", "--timeframe", "1m")

    assert result.exit_code == 1
    assert "no such file: nowhere.parquet" in result.stderr


@dataclass(frozen=True)
class HourlyCase:
    path: Path
    first: str
    last: str
    gaps: int
    holes: int


def hourly_cases(tmp_path: Path) -> list[HourlyCase]:
    """Hourly files whose gaps are known: slices of Binance's BTC/USDT 1h history (shared/data's README:
    28 gaps, 127 missing hours in all, among them the outage 2018-02-08 00:00 → 2018-02-09 09:00), or,
    where that file is absent, a constructed file with the same shape of outage."""
    if HOURLY.exists():
        table = pq.read_table(HOURLY)
        ts = table.column("timestamp")
        february = table.filter(
            pc.and_(pc.greater_equal(ts, ms("2018-02-01")), pc.less(ts, ms("2018-02-15")))
        )
        pq.write_table(february, tmp_path / "feb2018.parquet")
        # The bars 2018-02-08 01:00 to 2018-02-09 08:00 are missing: 23 + 9 = 32 hours in one hole.
        return [
            HourlyCase(HOURLY, "2017-08-17T04:00:00Z", "2026-07-16T23:00:00Z", 127, 28),
            HourlyCase(tmp_path / "feb2018.parquet", "2018-02-01T00:00:00Z", "2018-02-14T23:00:00Z", 32, 1),
        ]
    start = ms("2018-02-01")
    absent = set(range(7 * 24 + 1, 7 * 24 + 33)) | {250, 251, 300}
    times = [start + h * HOUR for h in range(14 * 24) if h not in absent]
    n = len(times)
    built = {"timestamp": times, "open": [1.0] * n, "high": [2.0] * n, "low": [0.5] * n}
    pq.write_table(pa.table({**built, "close": [1.5] * n, "volume": [3.0] * n}), tmp_path / "built.parquet")
    return [HourlyCase(tmp_path / "built.parquet", "2018-02-01T00:00:00Z", "2018-02-14T23:00:00Z", 35, 3)]


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def test_gaps_reported_for_real_hourly_history_match_the_data_readme(
    runner: CliRunner, data_dir: Path, tmp_path: Path
) -> None:
    for index, case in enumerate(hourly_cases(tmp_path)):
        venue = f"venue{index}"
        args = ("--symbol", "BTC/USDT", "--timeframe", "1h", "--venue", venue)
        result = invoke(runner, "data", "import", str(case.path), *args)

        assert result.exit_code == 0, result.output
        out = " ".join(result.stdout.split())
        assert f"{case.first} → {case.last}" in out
        holes = "1 hole" if case.holes == 1 else f"{case.holes} holes"
        assert f"gaps {case.gaps:,} missing bars in {holes}" in out
        entry = next(e for e in ParquetBarStore(data_dir).entries() if e.venue == venue)
        assert (entry.gaps, entry.holes) == (case.gaps, case.holes)

    listed = invoke(runner, "data", "list").stdout
    assert "missing bars in" in listed
