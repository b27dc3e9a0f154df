"""`tradeforge data download` against the exchange emulator: pages, exact bars, interruption and resume.

The download's requests go through the venue adapter's public client (budget, breaker, error mapping,
retries) on unmodified ccxt classes; only the transport is redirected (TRADEFORGE_CCXT_RESOLVE and
TRADEFORGE_CCXT_CA_FILE send the real exchange hostnames to the emulator and trust its test CA).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.conftest import REDIS_URL
from tests.exchange_emulator.faults import Fault, FaultKind, RequestMatch
from tests.exchange_emulator.server import Emulator, EmulatorConfig
from tests.exchange_emulator.threaded import EmulatorThread
from typer.testing import CliRunner, Result

from tradeforge.adapters.ccxt.breaker import BreakerConfig
from tradeforge.adapters.ccxt.capabilities import RateBudget
from tradeforge.adapters.ccxt.public import PublicClientOptions
from tradeforge.adapters.ccxt.rate_limit import RedisTokenBucket
from tradeforge.adapters.ccxt.retry import RetryPolicy
from tradeforge.adapters.market_data.download import (
    CA_FILE_ENV,
    RESOLVE_ENV,
    DownloadError,
    DownloadRequest,
    transport_override_from_env,
)
from tradeforge.adapters.market_data.download import download as download_bars
from tradeforge.adapters.market_data.store import ParquetBarStore
from tradeforge.cli.main import app

SYMBOL = "BTC/USDT"
MINUTE = 60_000
KLINES = RequestMatch(venue="binance", path="/api/v3/klines")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorConfig(venues=("binance", "okx", "kraken"))) as thread:
        thread.write_ca(tmp_path_factory.mktemp("ca") / "ca.pem")
        yield thread


@pytest.fixture
def env(
    running: EmulatorThread,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """A clean working directory, a data dir in tmp_path and the transport override to the emulator."""
    running.call(lambda emulator: emulator.faults.clear())
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("TRADEFORGE_")]:
        if name not in ("TRADEFORGE_REQUIRE_SERVICES", "TRADEFORGE_TEST_POSTGRES_ADMIN_URL"):
            monkeypatch.delenv(name)
    emulator = running.emulator
    values = {
        "TRADEFORGE_DATA_DIR": str(tmp_path / "data"),
        CA_FILE_ENV: str(running.write_ca(tmp_path / "ca.pem")),
        RESOLVE_ENV: ",".join(f"{host}=127.0.0.1:{emulator.port}" for host in emulator.hostnames),
        "COLUMNS": "200",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def download(*args: str) -> Result:
    return CliRunner().invoke(app, ["data", "download", *args], catch_exceptions=False)


def summary(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def served(running: EmulatorThread, venue: str, start: int, end: int) -> list[dict[str, Any]]:
    """The 1-minute bars the emulator serves for [start, end), as stored rows."""

    def read(emulator: Emulator) -> list[dict[str, Any]]:
        candles = emulator.venue(venue).state.market.candles(SYMBOL, 1, start, 100_000, end - 1)
        return [
            {
                "timestamp": c.open_ms,
                "open": float(c.open),
                "high": float(c.high),
                "low": float(c.low),
                "close": float(c.close),
                "volume": float(c.volume),
            }
            for c in candles
        ]

    return running.call(read)


def stored(data_dir: str, venue: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ParquetBarStore(Path(data_dir)).read(venue, SYMBOL, "1m").to_pylist()
    stamps = [row["timestamp"] for row in rows]
    assert stamps == sorted(set(stamps)), "stored bars must be sorted and unique"
    return rows


def klines_windows(running: EmulatorThread, since: int) -> list[tuple[int, int, int]]:
    """(startTime, endTime, limit) of every klines request from `since` on, in order."""
    found = []
    for record in running.call(lambda emulator: list(emulator.requests_for("binance"))):
        if record.path == "/api/v3/klines":
            query = dict(part.split("=", 1) for part in record.query.split("&"))
            if int(query["startTime"]) >= since:
                found.append((int(query["startTime"]), int(query["endTime"]), int(query["limit"])))
    return found


def test_binance_pages_store_exactly_the_bars_the_venue_served(
    running: EmulatorThread, env: dict[str, str]
) -> None:
    start, end = ms("2025-03-03T00:00"), ms("2025-03-03T00:00") + 2500 * MINUTE
    result = download(
        "--venue",
        "binance",
        "--symbol",
        SYMBOL,
        "--timeframe",
        "1m",
        "--since",
        "2025-03-03",
        "--until",
        str(end),
        "--json",
    )
    report = summary(result)
    assert (report["new_rows"], report["expected"], report["pages"], report["gaps"]) == (2500, 2500, 3, 0)
    assert report["resumed_from"] is None and report["stored_rows"] == 2500
    assert stored(env["TRADEFORGE_DATA_DIR"], "binance") == served(running, "binance", start, end)
    # Paged by since/limit with an end bound: three exact windows of at most 1,000 bars.
    assert klines_windows(running, start) == [
        (start, start + 1000 * MINUTE - 1, 1000),
        (start + 1000 * MINUTE, start + 2000 * MINUTE - 1, 1000),
        (start + 2000 * MINUTE, end - 1, 500),
    ]
    progress = [line for line in result.stderr.splitlines() if line.startswith("page ")]
    assert progress == [
        "page 1: 1,000 / 2,500 bars (up to 2025-03-03T16:39:00Z)",
        "page 2: 2,000 / 2,500 bars (up to 2025-03-04T09:19:00Z)",
        "page 3: 2,500 / 2,500 bars (up to 2025-03-04T17:39:00Z)",
    ]


def test_a_5xx_after_two_pages_keeps_them_and_the_next_run_resumes(
    running: EmulatorThread, env: dict[str, str]
) -> None:
    start, end = ms("2025-03-05T00:00"), ms("2025-03-05T00:00") + 3000 * MINUTE

    def script(emulator: Emulator) -> None:
        emulator.faults.inject(Fault(FaultKind.DELAY, hold_s=0), KLINES, times=2)  # pages 1-2 answer
        emulator.faults.inject(Fault(FaultKind.SERVER_ERROR, status=503), KLINES)  # page 3 fails

    running.call(script)
    args = (
        "--venue",
        "binance",
        "--symbol",
        SYMBOL,
        "--timeframe",
        "1m",
        "--since",
        "2025-03-05",
        "--until",
        "2025-03-07T02:00",
    )
    failed = download(*args, "--retries", "0")
    assert failed.exit_code == 1
    assert (
        "error: binance did not answer (ExchangeNotAvailable: binance GET https://api.binance.com/api/v3/klines"
        in (failed.stderr)
    )
    assert (
        "2,000 new bars were stored (up to 2025-03-06T09:19:00Z); run the same command again to resume"
        in (failed.stderr)
    )
    assert "Traceback" not in failed.output
    bars = served(running, "binance", start, end)
    assert stored(env["TRADEFORGE_DATA_DIR"], "binance") == bars[:2000]

    resumed = summary(download(*args, "--json"))
    assert resumed["resumed_from"] == "2025-03-06T09:19:00Z"
    assert (resumed["new_rows"], resumed["pages"], resumed["gaps"], resumed["stored_rows"]) == (
        1000,
        1,
        0,
        3000,
    )
    assert stored(env["TRADEFORGE_DATA_DIR"], "binance") == bars
    # Nothing left to fetch: a third run makes no request at all.
    again = summary(download(*args, "--json"))
    assert (again["new_rows"], again["requests"], again["stored_rows"]) == (0, 0, 3000)


def test_a_killed_download_resumes_after_its_last_durable_page(
    running: EmulatorThread, env: dict[str, str]
) -> None:
    start, end = ms("2025-03-01T00:00"), ms("2025-03-01T00:00") + 2400 * MINUTE

    def script(emulator: Emulator) -> None:
        emulator.faults.inject(Fault(FaultKind.DELAY, hold_s=0), KLINES, times=2)
        emulator.faults.inject(Fault(FaultKind.DELAY, hold_s=60), KLINES)  # page 3 hangs: kill it there

    running.call(script)
    args = [
        "data",
        "download",
        "--symbol",
        SYMBOL,
        "--timeframe",
        "1m",
        "--since",
        "2025-03-01",
        "--until",
        str(end),
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "tradeforge.cli.main", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    target = ParquetBarStore(Path(env["TRADEFORGE_DATA_DIR"])).path("binance", SYMBOL, "1m")
    try:
        deadline = time.monotonic() + 60
        while not (target.exists() and pq.ParquetFile(target).metadata.num_rows == 2000):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the first two pages never arrived"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        _, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert b"page 2: 2,000 / 2,400 bars" in err
    bars = served(running, "binance", start, end)
    assert stored(env["TRADEFORGE_DATA_DIR"], "binance") == bars[:2000]

    running.call(lambda emulator: emulator.faults.clear())
    resumed = summary(download(*args[2:], "--json"))
    assert (resumed["resumed_from"], resumed["new_rows"], resumed["gaps"]) == ("2025-03-02T09:19:00Z", 400, 0)
    assert stored(env["TRADEFORGE_DATA_DIR"], "binance") == bars


def test_okx_fills_before_and_after_what_is_stored_and_retries_a_rate_limit(
    running: EmulatorThread, env: dict[str, str]
) -> None:
    base = ("--venue", "okx", "--symbol", SYMBOL, "--timeframe", "1m")
    first = summary(download(*base, "--since", "2025-03-07T02:00", "--until", "2025-03-07T04:00", "--json"))
    assert (first["new_rows"], first["pages"]) == (120, 2)  # history-candles: 100 bars a page

    history = RequestMatch(venue="okx", path="/api/v5/market/history-candles")
    running.call(lambda emulator: emulator.faults.inject(Fault(FaultKind.RATE_LIMIT, status=429), history))
    wider = download(*base, "--since", "2025-03-07T00:00", "--until", "2025-03-07T06:00", "--json")
    report = summary(wider)
    assert (report["new_rows"], report["expected"], report["retries"], report["gaps"]) == (240, 240, 1, 0)
    assert report["stored_rows"] == 360
    assert stored(env["TRADEFORGE_DATA_DIR"], "okx") == served(
        running, "okx", ms("2025-03-07T00:00"), ms("2025-03-07T06:00")
    )
    assert "page 1: 100 / 240 bars" in wider.stderr


def test_kraken_serves_its_last_720_intervals_only_and_says_so(
    running: EmulatorThread, env: dict[str, str]
) -> None:
    base = ("--venue", "kraken", "--symbol", SYMBOL, "--timeframe", "1m", "--since", "2025-03-07T06:00")
    early = download(*base, "--until", "2025-03-07T18:00")
    assert early.exit_code == 0, early.output
    text = " ".join(early.stdout.split())
    assert (
        "kraken serves only the last 720 intervals of OHLCV: its history starts at 2025-03-07T12:00:00Z"
        in text
    )
    assert "360 bars missing at the start" in text
    later = summary(download(*base, "--until", "2025-03-08T00:00", "--json"))
    assert (later["resumed_from"], later["new_rows"], later["missing_before"]) == (
        "2025-03-07T17:59:00Z",
        360,
        360,
    )
    assert stored(env["TRADEFORGE_DATA_DIR"], "kraken") == served(
        running, "kraken", ms("2025-03-07T12:00"), ms("2025-03-08T00:00")
    )


MISTAKES = [
    (["--symbol", "DOGE/USDT"], "error: binance has no market DOGE/USDT"),
    (["--venue", "kraken", "--sandbox"], "error: sandbox: kraken has no sandbox or testnet"),
    (["--venue", "nosuchvenue"], "error: venue: 'nosuchvenue' is not an exchange ccxt knows"),
    (["--since", "yesterday"], "error: --since: 'yesterday' is not a date (2025-03-01), a time or epoch ms"),
    (["--until", "2025-02-01"], "error: until: the range holds no closed bar"),
]


@pytest.mark.parametrize(("args", "message"), MISTAKES)
def test_mistakes_get_one_clear_line_and_no_traceback(
    env: dict[str, str], args: list[str], message: str
) -> None:
    # Later options win in click, so each case overrides the valid defaults.
    result = download("--symbol", SYMBOL, "--timeframe", "1m", "--since", "2025-03-07", *args)
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_a_second_download_of_the_same_dataset_waits_its_turn(env: dict[str, str]) -> None:
    import fcntl

    target = ParquetBarStore(Path(env["TRADEFORGE_DATA_DIR"])).path("binance", SYMBOL, "1m")
    target.parent.mkdir(parents=True)
    with open(target.parent / ".1m.parquet.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a running download holds it
        result = download("--symbol", SYMBOL, "--timeframe", "1m", "--since", "2025-03-07")
    assert result.exit_code == 1
    assert f"error: another download is writing {target}; wait for it to finish" in " ".join(
        result.stderr.split()
    )
    assert not target.exists()


# --- through the adapter: its retry policy, error mapping, breaker and request budget ----------------


def test_transient_failures_are_retried_on_the_adapters_policy(
    running: EmulatorThread, env: dict[str, str]
) -> None:
    start = ms("2025-03-06T00:00")
    end = start + 600 * MINUTE
    running.call(
        lambda emulator: emulator.faults.inject(Fault(FaultKind.SERVER_ERROR, status=503), KLINES, times=3)
    )
    args = ("--symbol", SYMBOL, "--timeframe", "1m", "--since", "2025-03-06", "--until", str(end))
    failed = download(*args, "--retries", "1")  # meets two of the three 503s
    assert failed.exit_code == 1
    line = " ".join(failed.stderr.split())
    assert (
        "error: binance did not answer after 2 attempts (ExchangeNotAvailable: binance GET "
        "https://api.binance.com/api/v3/klines" in line
    )
    assert "nothing new was stored; run the same command again to retry" in line

    report = summary(download(*args, "--retries", "2", "--json"))  # the third 503, then the page
    assert (report["new_rows"], report["pages"], report["requests"], report["retries"]) == (600, 1, 3, 1)
    assert stored(env["TRADEFORGE_DATA_DIR"], "binance") == served(running, "binance", start, end)


def test_a_ban_is_the_adapters_rate_limit_error_in_one_line(
    running: EmulatorThread, env: dict[str, str]
) -> None:
    running.call(lambda emulator: emulator.faults.inject(Fault(FaultKind.RATE_LIMIT, status=418), KLINES))
    result = download("--symbol", SYMBOL, "--timeframe", "1m", "--since", "2025-03-07", "--retries", "0")
    assert result.exit_code == 1
    line = " ".join(result.stderr.split())
    assert "error: binance rate-limited the download, with a ban (HTTP 418) (DDoSProtection: binance" in line
    assert "run the same command again to retry" in line  # transient: worth another run later
    assert "Traceback" not in result.output


def test_failures_in_a_row_open_the_breaker_and_nothing_more_is_sent(
    running: EmulatorThread, env: dict[str, str]
) -> None:
    start = ms("2025-03-02T00:00")
    running.call(
        lambda emulator: emulator.faults.inject(Fault(FaultKind.SERVER_ERROR, status=503), KLINES, times=10)
    )
    sent_before = len(klines_windows(running, start))
    override = transport_override_from_env(env)
    assert override is not None
    options = PublicClientOptions(
        retry=RetryPolicy(max_attempts=6, base_delay_s=0, max_delay_s=0),
        breaker=BreakerConfig(failure_threshold=2, cool_down_s=600),
    )
    with pytest.raises(DownloadError) as raised:
        download_bars(
            DownloadRequest("binance", SYMBOL, "1m", start, start + 100 * MINUTE),
            ParquetBarStore(Path(env["TRADEFORGE_DATA_DIR"])),
            session_factory=override.session,
            client=options,
        )
    error = raised.value
    assert str(error).startswith(
        "binance did not answer: its circuit breaker opened after 2 failures in a row "
        "(last: fetch_ohlcv: binance GET https://api.binance.com/api/v3/klines"
    )
    assert error.transient and error.progress is not None
    assert (error.progress.requests, error.progress.retries, error.progress.new_rows) == (3, 1, 0)
    # Attempts 3 to 6 were refused by the open circuit: the venue saw two klines requests only.
    assert len(klines_windows(running, start)) - sent_before == 2


def test_every_request_takes_from_the_venues_shared_budget(
    running: EmulatorThread, env: dict[str, str], redis_prefix: str
) -> None:
    override = transport_override_from_env(env)
    assert override is not None
    budget = RateBudget(capacity=50, refill_per_s=0.01)  # refills 1 token in 100 s: none in this test
    report = download_bars(
        DownloadRequest("okx", SYMBOL, "1m", ms("2025-03-07T02:00"), ms("2025-03-07T04:00")),
        ParquetBarStore(Path(env["TRADEFORGE_DATA_DIR"])),
        session_factory=override.session,
        client=PublicClientOptions(redis_url=REDIS_URL, redis_key_prefix=redis_prefix, budget=budget),
    )
    assert (report.progress.new_rows, report.progress.requests) == (120, 3)  # load_markets + 2 pages

    async def remaining() -> float:
        shared = RedisTokenBucket.from_url(REDIS_URL, f"{redis_prefix}:okx:live:public", 50, 0.01)
        try:
            return await shared.refresh()
        finally:
            await shared.close()

    assert 46.9 < asyncio.run(remaining()) < 47.5  # one token per request, in the shared bucket
