"""End to end: `tradeforge run` with two live venues on the exchange emulator, routing and failing over.

The service is configured as an operator would: credentials added through the CLI (encrypted under a
master key from the environment), `TRADEFORGE_VENUES`, and the test/dev transport override that sends
the exchanges' real hostnames to the emulator and trusts only its CA. Orders are sent without a venue.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.processes import TRADEFORGE, ServiceProcess, service_environment, start_service
from tests.exchange_emulator import EmulatorConfig, EmulatorThread, Fault, FaultKind, RequestMatch
from tests.exchange_emulator.server import Emulator

pytestmark = pytest.mark.timeout(120)
VENUES = ("binance", "okx")
BOOK_PATHS = {"binance": "/api/v3/depth", "okx": "/api/v5/market/books"}
# Bounds on waiting (book refreshes, breaker cool-down), not assertions on speed.
DEADLINE_S = 40.0


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorConfig(venues=VENUES)) as running:
        yield running


def add_credentials(env: dict[str, str], cwd: Path, running: EmulatorThread) -> list[str]:
    """`tradeforge credentials add` for each venue's sandbox key (OKX: the passphrase on line two)."""
    secrets = []
    for venue in VENUES:
        key = running.emulator.venue(venue, "sandbox").credentials
        lines = key.secret + "\n" + (f"{key.password}\n" if key.password else "")
        command = ["credentials", "add", "--venue", venue, "--label", "main", "--sandbox", "--secret-stdin"]
        result = subprocess.run(
            [str(TRADEFORGE), *command, "--api-key", key.api_key],
            input=lines,
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        secrets.append(key.secret)
    return secrets


class Client:
    def __init__(self, service: ServiceProcess, key: str) -> None:
        self.http = httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def ready(self) -> tuple[int, dict[str, Any]]:
        response = self.http.get("/ready")
        return response.status_code, response.json()

    def venue(self, name: str) -> dict[str, Any]:
        status, body = self.ready()
        assert status == 200, body
        return next(v for v in body["venues"] if v["name"] == name)

    def buy(self) -> dict[str, Any]:
        """A market buy with no venue: the service routes it."""
        body = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": "0.01"}
        response = self.http.post("/api/v1/orders", json=body)
        assert response.status_code == 201, response.text
        order: dict[str, Any] = response.json()
        return order

    def filled(self, order: dict[str, Any]) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            current: dict[str, Any] = self.http.get(f"/api/v1/orders/{order['id']}").json()
            return current if current["status"] not in ("pending", "open") else None

        final: dict[str, Any] = wait_for(done, f"order {order['id']} to finish")
        return final

    def reconciliation(self) -> list[dict[str, Any]]:
        response = self.http.get("/api/v1/reconciliation")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()
        return items

    def route_of(self, order_id: str) -> dict[str, Any]:
        page = self.http.get("/api/v1/audit", params={"action": "order.route"}).json()
        details: dict[str, Any] = next(e["details"] for e in page["items"] if e["target"] == order_id)
        return details


def books_refreshed(running: EmulatorThread, since: int) -> None:
    """Wait until the service holds, for both venues, a book answered after request number `since`.

    The emulator answering is not enough: the service stores that book a little later, and an order
    routed in between sees the old prices. A venue fetches one book per symbol at a time, so a second
    answered request proves the first answer was stored."""

    def refreshed(emu: Emulator) -> bool:
        later = emu.requests[since:]
        return all(
            sum(1 for r in later if r.venue == v and r.path == BOOK_PATHS[v] and r.status == 200) >= 2
            for v in VENUES
        )

    wait_for(lambda: running.call(refreshed), "fresh order books from both venues")


def set_prices(running: EmulatorThread, prices: dict[str, str]) -> None:
    def move(emu: Emulator) -> int:
        for venue, price in prices.items():
            emu.venue(venue, "sandbox").set_price("BTC/USDT", Decimal(price))
        return len(emu.requests)

    books_refreshed(running, running.call(move))


def test_routed_orders_fail_over_while_a_venue_is_down_and_return_when_it_is_back(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    emu = emulator.emulator
    ca_file = emulator.write_ca(tmp_path / "emulator-ca.pem")
    var_dir = tmp_path / "var"
    venue_settings = [
        {
            "name": name,
            "sandbox": True,
            "credentials": "main",
            "timeout_ms": 2000,
            "poll_interval_ms": 0,
            "breaker_failure_threshold": 3,
            "breaker_cool_down_s": 1,
        }
        for name in VENUES
    ]
    env = service_environment(
        var_dir,
        f"sqlite:///{tmp_path / 'tradeforge.db'}",
        TRADEFORGE_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
        TRADEFORGE_VENUES=json.dumps(venue_settings),
        TRADEFORGE_ROUTING=json.dumps({"book_refresh_ms": 0}),
        TRADEFORGE_CCXT_RESOLVE=",".join(f"{host}=127.0.0.1:{emu.port}" for host in emu.hostnames),
        TRADEFORGE_CCXT_CA_FILE=str(ca_file),
    )
    secrets = add_credentials(env, tmp_path, emulator)
    log = tmp_path / "service.log"
    service = start_service(env, tmp_path, log)
    try:
        api = Client(service, (var_dir / "admin.key").read_text().strip())
        status, ready = api.ready()
        assert status == 200
        assert {v["name"]: (v["up"], v["state"]) for v in ready["venues"]} == {
            "paper": (True, "up"),
            "binance": (True, "closed"),
            "okx": (True, "closed"),
        }
        # Each venue trades once its start reconciliation found the books matching; both venues
        # book into account main, so orders and fills are compared, balances not.
        wait_for(lambda: all(api.venue(v)["trading"] == "active" for v in VENUES), "both venues reconciled")
        status = {r["venue"]: r for r in api.reconciliation()}
        assert {v: (r["account_id"], r["compares_balances"]) for v, r in status.items()} == {
            "binance": ("main", False),
            "okx": ("main", False),
        }
        assert status["binance"]["last_report"]["trigger"] in ("start", "periodic")
        manual = api.http.post("/api/v1/reconciliation/binance/runs")
        assert manual.status_code == 200, manual.text
        assert manual.json()["last_report"]["trigger"] == "manual"
        assert manual.json()["trading"] == "active" and manual.json()["runs"] >= 2
        unknown = api.http.post("/api/v1/reconciliation/paper/runs")
        assert unknown.status_code == 404 and "paper" in unknown.json()["detail"]
        admin = (var_dir / "admin.key").read_text().strip()
        cli = [str(TRADEFORGE), "reconciliation", "status", "--url", service.url, "--key", admin]
        shown = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert "binance (account main): active" in shown.stdout
        assert "compares orders, fills;" in shown.stdout  # a shared account: balances not compared
        cli[2:3] = ["run", "paper"]
        refused = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "no reconciler runs for venue 'paper'" in refused.stderr

        # OKX quotes lower: an order without a venue goes there, and the decision is on record.
        set_prices(emulator, {"binance": "86800", "okx": "86700"})
        first = api.buy()
        assert first["venue"] == "okx"
        assert api.filled(first)["status"] == "filled"
        decision = api.route_of(first["id"])
        assert decision["venue"] == "okx"
        assert {c["venue"] for c in decision["candidates"]} == {"binance", "okx"}

        # OKX goes down (every request a 503): its breaker opens, /ready lists it down and stays 200
        # because binance can trade, and routed orders go to binance.
        emulator.call(
            lambda e: e.faults.inject(
                Fault(FaultKind.SERVER_ERROR, status=503), RequestMatch(venue="okx:sandbox"), times=1_000_000
            )
        )
        okx = wait_for(lambda: (v := api.venue("okx"))["state"] == "open" and v, "/ready to show okx open")
        assert okx["up"] is False and okx["consecutive_failures"] >= 3
        assert api.venue("binance")["up"] is True
        failover = api.buy()
        assert failover["venue"] == "binance"
        assert api.filled(failover)["status"] == "filled"
        candidates = {c["venue"]: c for c in api.route_of(failover["id"])["candidates"]}
        assert (candidates["okx"]["status"], candidates["okx"]["detail"]) == ("unavailable", "circuit open")
        metrics = api.http.get("/metrics").text
        assert 'tradeforge_venue_breaker_state{venue="okx"} 2.0' in metrics
        assert 'tradeforge_venue_up{kind="ccxt",venue="binance"} 1.0' in metrics

        # OKX comes back: the half-open probe passes, the breaker closes, /ready shows it up, and
        # the better price wins again.
        emulator.call(lambda e: e.faults.clear())
        wait_for(lambda: api.venue("okx")["state"] == "closed", "/ready to show okx closed again")
        assert api.venue("okx")["up"] is True
        # the reconnect is followed by a reconciliation run; until it ends okx is reducing only
        wait_for(lambda: api.venue("okx")["trading"] == "active", "okx reconciled after the reconnect")
        triggers = [r["last_report"]["trigger"] for r in api.reconciliation() if r["venue"] == "okx"]
        assert triggers in (["reconnect"], ["periodic"])
        set_prices(emulator, {"binance": "86800", "okx": "86700"})
        back = api.buy()
        assert back["venue"] == "okx"
        assert api.filled(back)["status"] == "filled"
        assert 'tradeforge_venue_breaker_state{venue="okx"} 0.0' in api.http.get("/metrics").text
    finally:
        service.stop()
    output = log.read_text()
    assert not [secret for secret in secrets if secret in output]
    assert emu.venue("okx", "sandbox").stats.unverified_accepted == 0
