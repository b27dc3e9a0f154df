"""Backtests over the API: a background job in a worker process, its status, result and report."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.integration.api.harness import BTC_SAMPLE, Api, api_settings, start_api

from tradeforge.backtest.config import BacktestConfig
from tradeforge.backtest.engine import run_backtest
from tradeforge.backtest.feed import BarColumns
from tradeforge.runtime.settings import FeedSettings

BODY = {
    "strategy": "sma_cross",
    "params": {"fast": 10, "slow": 30, "quantity": "0.1"},
    "symbol": "BTC/USDT",
    "timeframe": "1m",
    "start": "2025-03-01T00:00:00Z",
    "end": "2025-03-03T00:00:00Z",
}
WAIT_S = 120.0  # a bound on waiting for the worker process, not a speed assertion


@pytest.fixture
def api(sqlite_url: str, tmp_path: Path) -> Iterator[Api]:
    """The app with the bundled sample as its BTC/USDT feed (not replayed: the data backtests use)."""
    settings = api_settings(
        sqlite_url, tmp_path / "var", feeds=(FeedSettings(symbol="BTC/USDT", path=BTC_SAMPLE),)
    )
    yield from start_api(settings)


def wait_for(api: Api, key: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        response = api.request("GET", f"/api/v1/backtests/{job_id}", key)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_a_backtest_job_runs_in_the_background_and_its_report_can_be_downloaded(api: Api) -> None:
    trader, viewer = api.create_key("trader"), api.create_key("viewer")
    created = api.request("POST", "/api/v1/backtests", trader, json=BODY)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    assert created.json()["status"] in ("queued", "running")

    job = wait_for(api, viewer, job_id)
    assert job["status"] == "succeeded", job
    summary = job["summary"]
    bars = BarColumns.from_file(BTC_SAMPLE, "BTC/USDT", start_ms=1_740_787_200_000, end_ms=1_740_960_000_000)
    direct = run_backtest(BacktestConfig(params=BODY["params"]), bars).result.summary_json()
    for key in ("bars", "orders", "trades", "final_equity", "total_return", "max_drawdown"):
        assert summary[key] == direct[key], key
    assert summary["bars"] == 2 * 1440
    assert set(job["files"]) == {"report.html", "result.json", "orders.json", "fills.json"}

    report = api.request("GET", f"/api/v1/backtests/{job_id}/files/report.html", viewer)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<svg" in report.text and "sma_cross" in report.text
    result = api.request("GET", f"/api/v1/backtests/{job_id}/files/result.json", viewer)
    assert result.status_code == 200 and len(result.json()["round_trips"]) == summary["trades"]
    listed = api.request("GET", "/api/v1/backtests", viewer).json()["items"]
    assert [item["id"] for item in listed] == [job_id]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "no_such_strategy"}, "body.strategy"),
        ({"params": {"fast": "ten"}}, "body.params.fast"),
        ({"symbol": "DOGE/USDT"}, "symbol"),
        ({"cash": "-5"}, "body.cash"),
        ({"slippage": "sometimes"}, "body.slippage"),
    ],
)
def test_bad_backtest_requests_name_the_field_and_start_nothing(
    api: Api, change: dict[str, Any], field: str
) -> None:
    trader = api.create_key("trader")
    response = api.request("POST", "/api/v1/backtests", trader, json={**BODY, **change})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == field
    assert api.request("GET", "/api/v1/backtests", trader).json()["items"] == []


def test_a_viewer_cannot_start_a_backtest_and_unknown_jobs_are_404(api: Api) -> None:
    viewer = api.create_key("viewer")
    assert api.request("POST", "/api/v1/backtests", viewer, json=BODY).status_code == 403
    assert api.request("GET", "/api/v1/backtests/B0123456789abcdef", viewer).status_code == 404
    assert api.request("GET", "/api/v1/backtests", None).status_code == 401
    assert Decimal(BODY["params"]["quantity"]) > 0  # the body itself stays valid for the other tests
