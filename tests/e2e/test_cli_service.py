"""End to end: `tradeforge run` as a real process, driven by the `tradeforge` CLI in other processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

TRADEFORGE = Path(sys.executable).with_name("tradeforge")
# Bounds on waiting for the service, not assertions on speed: a slow machine only waits longer.
START_DEADLINE_S = 60.0
POLL_DEADLINE_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def clean_environment(tmp_path: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRADEFORGE_")}
    env.update(
        TRADEFORGE_VAR_DIR=str(tmp_path / "var"),
        TRADEFORGE_DATABASE_URL=f"sqlite:///{tmp_path / 'var' / 'tradeforge.db'}",
        TRADEFORGE_REPLAY_SPEED="600",
        TRADEFORGE_STRATEGIES="[]",  # the demo strategy would trade the positions this test asserts
        COLUMNS="200",
    )
    return env


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    url: str
    env: dict[str, str]
    cwd: Path
    output: Path

    def cli(self, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, TRADEFORGE_API_URL=self.url)
        if key is not None:
            env["TRADEFORGE_API_KEY"] = key
        return subprocess.run(
            [str(TRADEFORGE), *args], env=env, cwd=self.cwd, capture_output=True, text=True, timeout=60
        )

    def json(self, *args: str, key: str) -> Any:
        result = self.cli(*args, "--json", key=key)
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return json.loads(result.stdout)


def wait_until(condition: Callable[[], bool], what: str, deadline_s: float = POLL_DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    assert TRADEFORGE.exists(), f"the tradeforge script is not installed next to {sys.executable}"
    port = free_port()
    env = clean_environment(tmp_path)
    output = tmp_path / "run.out"
    with output.open("wb") as sink, (tmp_path / "run.err").open("wb") as errors:
        process = subprocess.Popen(
            [str(TRADEFORGE), "run", "--port", str(port)], env=env, cwd=tmp_path, stdout=sink, stderr=errors
        )
    running = Service(process, f"http://127.0.0.1:{port}", env, tmp_path, output)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                log = (tmp_path / "run.err").read_text()
                pytest.fail(f"tradeforge run exited with {process.returncode}: {log}")
            try:
                return httpx.get(f"{running.url}/ready", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, "/ready", START_DEADLINE_S)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_trading_through_the_cli_against_the_running_service(service: Service, tmp_path: Path) -> None:
    admin_file = tmp_path / "var" / "admin.key"
    wait_until(lambda: "First admin key written to" in service.output.read_text(), "the start banner")
    banner = " ".join(service.output.read_text().split())
    assert f"{service.url}/docs" in banner
    assert f"First admin key written to {admin_file}" in banner
    admin = admin_file.read_text().strip()

    # A trader key, created on the database while the service runs; the key is the last line.
    created = service.cli("keys", "create", "--role", "trader", "--name", "e2e")
    assert created.returncode == 0, created.stderr
    trader = created.stdout.splitlines()[-1]
    assert trader.startswith("tf_k")

    # Market order: filled at the replayed price.
    placed = service.json("orders", "place", "BTC/USDT", "buy", "0.01", key=trader)
    assert placed["status"] in ("pending", "open", "filled")

    def filled() -> bool:
        order = service.json("orders", "show", placed["id"], key=trader)
        return bool(order["status"] == "filled")

    wait_until(filled, "the market order to fill")
    order = service.json("orders", "show", placed["id"], key=trader)
    assert order["filled_quantity"] == "0.01" and order["average_price"] is not None

    positions = service.json("positions", key=trader)["items"]
    assert [(p["symbol"], p["quantity"], p["side"]) for p in positions] == [("BTC/USDT", "0.01", "long")]
    balances = {b["asset"]: b for b in service.json("balances", key=trader)["items"]}
    assert balances["BTC"]["total"] == "0.01"
    assert Decimal(balances["USDT"]["total"]) < Decimal("100000")
    table = service.cli("positions", key=trader)
    assert table.returncode == 0 and "BTC/USDT" in table.stdout and "long" in table.stdout
    fills = service.json("fills", "--symbol", "BTC/USDT", key=trader)["items"]
    assert [f["order_id"] for f in fills] == [placed["id"]]

    # A resting limit far below the market: widen the price band first (admin), so it stays unfilled.
    limits = service.json("risk", "set-limits", '{"price_band": "0.9"}', key=admin)
    assert limits["price_band"] == "0.9"
    mark = Decimal(positions[0]["mark_price"])
    low = (mark / 2).quantize(Decimal("0.01"))
    resting = service.json(
        "orders",
        "place",
        "BTC/USDT",
        "buy",
        "0.001",
        "--type",
        "limit",
        "--price",
        str(low),
        "--client-order-id",
        "e2e-limit-1",
        key=trader,
    )
    # Decimals compare by value: the API answers in plain form without trailing zeros.
    assert (resting["status"], Decimal(resting["price"])) == ("open", low)
    assert resting["client_order_id"] == "e2e-limit-1"
    listed = service.json("orders", "list", "--status", "open", key=trader)["items"]
    assert [o["id"] for o in listed] == [resting["id"]]

    lower = (low - Decimal("100")).quantize(Decimal("0.01"))
    amended = service.json(
        "orders", "amend", resting["id"], "--price", str(lower), "--quantity", "0.002", key=trader
    )
    assert (Decimal(amended["price"]), amended["quantity"], amended["status"]) == (lower, "0.002", "open")

    cancelled = service.json("orders", "cancel", resting["id"], key=trader)
    assert cancelled["status"] == "cancelled"
    again = service.cli("orders", "cancel", resting["id"], key=trader)
    assert again.returncode == 1
    assert again.stderr.startswith("error: HTTP 409 Conflict")

    # Kill switch: the next order is rejected with the reason, and trading resumes after.
    halted = service.json("risk", "halt", "--reason", "e2e drill", "--keep-open", key=admin)
    assert (halted["state"], halted["reason"]) == ("halted", "e2e drill")
    refused = service.cli("orders", "place", "BTC/USDT", "buy", "0.01", key=trader)
    assert refused.returncode == 1
    assert "order rejected: trading is halted: e2e drill" in refused.stderr
    assert "rejected" in refused.stdout
    forbidden = service.cli("risk", "resume", "--reason", "not mine", key=trader)
    assert forbidden.returncode == 1 and "HTTP 403" in forbidden.stderr

    resumed = service.json("risk", "resume", "--reason", "drill over", key=admin)
    assert resumed["state"] == "active"
    status = service.cli("risk", "status", key=trader)
    assert status.returncode == 0 and "active" in status.stdout and "drill over" in status.stdout
    sold = service.json("orders", "place", "BTC/USDT", "sell", "0.01", key=trader)
    assert sold["status"] != "rejected", sold["reject_reason"]

    history = service.json("orders", "list", "--status", "rejected", key=trader)["items"]
    assert [o["reject_reason"] for o in history] == ["trading is halted: e2e drill"]
