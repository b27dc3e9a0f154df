"""Live/backtest parity: one strategy on the same bars, through the paper service and the backtester."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from tests.e2e.processes import service_environment, start_service

from tradeforge.backtest.config import BacktestConfig
from tradeforge.backtest.engine import run_backtest
from tradeforge.backtest.feed import BarColumns

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"
BARS = 1_500
PARAMS = {"fast": 5, "slow": 15, "quantity": "0.01"}
WAIT_S = 120.0  # a bound on waiting for the replay, not a speed assertion


def fills_of(url: str, key: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        page = httpx.get(
            f"{url}/api/v1/fills", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=10
        ).json()
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def test_the_paper_service_and_the_backtester_place_the_same_orders_and_get_the_same_fills(
    tmp_path: Path,
) -> None:
    data = tmp_path / "bars.parquet"
    pq.write_table(pq.read_table(SAMPLE).slice(0, BARS), data)

    expected = run_backtest(
        BacktestConfig(params=PARAMS, cash=Decimal("100000")), BarColumns.from_file(data, "BTC/USDT")
    )
    assert len(expected.fills) > 40

    strategies = [{"id": "parity", "name": "sma_cross", "symbols": ["BTC/USDT"], "params": PARAMS}]
    env = service_environment(
        tmp_path / "var",
        f"sqlite:///{tmp_path / 'parity.db'}",
        TRADEFORGE_STRATEGIES=json.dumps(strategies),
        TRADEFORGE_FEEDS=json.dumps([{"symbol": "BTC/USDT", "path": str(data)}]),
        TRADEFORGE_REPLAY_SPEED="600000",  # 0.1 ms per bar: the replay waits for each bar's commit
        TRADEFORGE_REPLAY_LOOP="false",
        TRADEFORGE_PAPER__FILL_AT="next_open",
        TRADEFORGE_RISK=json.dumps({"max_submits_per_second": None}),
        TRADEFORGE_STARTING_BALANCES=json.dumps({"USDT": "100000"}),
    )
    service = start_service(env, tmp_path, tmp_path / "service.log")
    try:
        key = (tmp_path / "var" / "admin.key").read_text().strip()
        deadline = time.monotonic() + WAIT_S
        fills = fills_of(service.url, key)
        while len(fills) < len(expected.fills) and time.monotonic() < deadline:
            time.sleep(0.5)
            fills = fills_of(service.url, key)
        time.sleep(1.0)  # anything beyond the expected fills would show up now
        fills = fills_of(service.url, key)
        orders = httpx.get(
            f"{service.url}/api/v1/orders",
            params={"limit": "500", "strategy_id": "parity"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ).json()["items"]
    finally:
        service.stop()

    live = sorted(fills, key=lambda fill: str(fill["id"]))
    assert [
        (f["side"], Decimal(str(f["quantity"])), Decimal(str(f["price"])), Decimal(str(f["fee"])))
        for f in live
    ] == [(f.side.value, f.quantity, f.price, f.fee) for f in expected.fills]
    assert len(orders) == len(expected.orders)
    assert sorted((o["side"], o["type"], Decimal(str(o["quantity"]))) for o in orders) == sorted(
        (o.side.value, o.type.value, o.quantity) for o in expected.orders
    )


@pytest.fixture(autouse=True)
def _sample_exists() -> None:
    assert SAMPLE.exists(), f"the bundled sample is missing: {SAMPLE}"
