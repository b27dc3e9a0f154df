"""Crash test: SIGKILL the service while a client streams orders, restart it, and check that every
acknowledged order is there exactly once with its fills, and that re-sending creates nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.processes import ServiceProcess, free_port, service_environment, start_service

STREAMS = 4  # concurrent clients, so requests are in flight at the moment of the kill
STREAM_SECONDS_BEFORE_KILL = 3.0
MIN_ACKED = 50


def _order_body(index: int, stream: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "symbol": "BTC/USDT",
        "side": "buy" if index % 2 == 0 else "sell",
        "quantity": "0.001",
        "client_order_id": f"crash-{stream}-{index}-{uuid.uuid4().hex[:8]}",
    }
    if index % 3 == 2:
        body.update(type="limit", price="50000" if body["side"] == "buy" else "150000")  # rests
    else:
        body["type"] = "market"
    return body


class Streamer(threading.Thread):
    """Sends orders until told to stop or the server dies; remembers every acknowledged one."""

    def __init__(self, url: str, key: str, stream: int) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.stream = url, key, stream
        self.acked: list[tuple[dict[str, Any], str, dict[str, Any]]] = []  # (body, idempotency key, response)
        self.stop = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=5) as client:
            index = 0
            while not self.stop.is_set():
                body = _order_body(index, self.stream)
                idempotency_key = uuid.uuid4().hex
                try:
                    response = client.post(
                        "/api/v1/orders", json=body, headers={"Idempotency-Key": idempotency_key}
                    )
                except httpx.HTTPError:
                    return  # the server is gone: this request was never acknowledged
                if response.status_code in (200, 201):
                    self.acked.append((body, idempotency_key, response.json()))
                index += 1


def _all(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = dict(params, limit=500)
        if cursor:
            query["cursor"] = cursor
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    var_dir = tmp_path / "var"
    database_url = (
        f"sqlite:///{var_dir / 'tradeforge.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    env = service_environment(
        var_dir,
        database_url,
        TRADEFORGE_REPLAY_SPEED="600",
        TRADEFORGE_RISK='{"max_submits_per_second": null, "max_open_orders": null, "price_band": null}',
        TRADEFORGE_STARTING_BALANCES='{"USDT": "100000000", "BTC": "1000"}',
    )
    port = free_port()
    log = tmp_path / "service.log"
    service: ServiceProcess = start_service(env, tmp_path, log, port)
    try:
        key = (var_dir / "admin.key").read_text().strip()
        streamers = [Streamer(service.url, key, n) for n in range(STREAMS)]
        for streamer in streamers:
            streamer.start()
        deadline = time.monotonic() + 60
        while sum(len(s.acked) for s in streamers) < MIN_ACKED and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(STREAM_SECONDS_BEFORE_KILL)
        service.kill()  # while the streams are still sending
        for streamer in streamers:
            streamer.stop.set()
            streamer.join(timeout=10)
    finally:
        service.stop()

    acked = [entry for streamer in streamers for entry in streamer.acked]
    assert len(acked) >= MIN_ACKED, f"only {len(acked)} orders were acknowledged before the kill"

    service = start_service(env, tmp_path, log, port)
    try:
        with httpx.Client(
            base_url=service.url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as client:
            orders = _all(client, "/api/v1/orders")
            by_client_id = Counter(o["client_order_id"] for o in orders)
            by_id = {o["id"]: o for o in orders}
            # Every acknowledged order is there exactly once, as acknowledged or further along.
            for body, _, response in acked:
                assert by_client_id[body["client_order_id"]] == 1, body["client_order_id"]
                stored = by_id[response["id"]]
                assert stored["client_order_id"] == body["client_order_id"]
                assert Decimal(stored["filled_quantity"]) >= Decimal(response["filled_quantity"])
            assert all(count == 1 for count in by_client_id.values())
            # Fills match each order's filled quantity, and the books match the fills exactly.
            fills = _all(client, "/api/v1/fills")
            filled: dict[str, Decimal] = defaultdict(Decimal)
            cash: dict[str, Decimal] = defaultdict(Decimal)
            for fill in fills:
                quantity, notional = Decimal(fill["quantity"]), Decimal(fill["notional"])
                filled[fill["order_id"]] += quantity
                sign = 1 if fill["side"] == "buy" else -1
                cash["BTC"] += sign * quantity
                cash["USDT"] -= sign * notional + Decimal(fill["fee"])
            for order in orders:
                assert Decimal(order["filled_quantity"]) == filled.get(order["id"], Decimal(0)), order["id"]
            balances = {
                b["asset"]: Decimal(b["total"]) for b in client.get("/api/v1/balances").json()["items"]
            }
            assert balances["BTC"] == Decimal("1000") + cash["BTC"]
            assert balances["USDT"] == Decimal("100000000") + cash["USDT"]
            positions = {
                p["symbol"]: Decimal(p["quantity"]) for p in client.get("/api/v1/positions").json()["items"]
            }
            assert positions.get("BTC/USDT", Decimal(0)) == cash["BTC"]
            # Re-sending with the same Idempotency-Key or the same client_order_id creates nothing.
            for body, idempotency_key, response in acked:
                again = client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": idempotency_key})
                assert again.status_code in (200, 201), again.text
                assert again.json()["id"] == response["id"]
                plain = client.post("/api/v1/orders", json=body)
                assert plain.status_code == 200, plain.text
                assert plain.json()["id"] == response["id"]
            assert len(_all(client, "/api/v1/orders")) == len(orders)
            print(
                f"\n[{backend}] acknowledged before SIGKILL: {len(acked)};"
                f" stored after restart: {len(orders)}"
                f" (unacknowledged but committed: {len(orders) - len(acked)}); fills: {len(fills)}"
            )
    finally:
        service.stop()
