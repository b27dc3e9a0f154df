"""Routing through the real composition root: best price after fees, failover, recovery, the record."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
from tests.exchange_emulator import Emulator, Fault, FaultKind, RequestMatch

from tradeforge.adapters.clocks import WallClock
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderStatus, OrderType
from tradeforge.engine.router import ROUTE_AUDIT_ACTION
from tradeforge.observability.metrics import Metrics
from tradeforge.runtime.bootstrap import Mode, build, sql_unit_of_work_factory
from tradeforge.runtime.venues import can_trade, venue_health
from tradeforge.security.credentials import CredentialService
from tradeforge.security.secrets import MasterKeySource, generate_master_key

from .support import SYMBOL, LiveSystem, live_system, service_settings, set_price, venue_settings

pytestmark = pytest.mark.timeout(90)


def run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def route_entries(live: LiveSystem) -> dict[str, dict[str, object]]:
    """The `order.route` audit entries in the database, by order id."""
    with live.system.uow_factory() as uow:
        page = uow.audit.list(None, 100, ROUTE_AUDIT_ACTION)
    return {entry.target: json.loads(entry.details) for entry in page.items}


async def books_at(live: LiveSystem, bids: dict[str, str]) -> None:
    """Wait until every venue's cached book shows its emulated best bid (the set price)."""

    def current() -> bool:
        for name, price in bids.items():
            book = live.venue(name).books.latest(SYMBOL)
            if book is None or book.best_bid != Decimal(price):
                return False
        return True

    await live.tick_until(current, f"order books at {bids}")


def test_a_routed_order_goes_to_the_best_price_after_fees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kraken's ask is the lowest, but its 0.26 % taker fee makes OKX (0.15 %) the cheaper buy; the
    sell goes to binance's highest bid. Every decision is stored with each venue's expected price."""

    async def scenario() -> None:
        venues = (venue_settings("binance"), venue_settings("okx"), venue_settings("kraken"))
        async with live_system(tmp_path, monkeypatch, *venues) as live:
            prices = {"binance": "80000", "okx": "79950", "kraken": "79900"}
            for name, price in prices.items():
                set_price(live.emulated(name), price)
            await books_at(live, prices)

            # Marketable limits: they take liquidity like market orders, and carry the price the risk
            # engine needs (this system has no price feed).
            buy = live.submit(OrderSide.BUY, "0.01", type=OrderType.LIMIT, price=Decimal("80100"))
            sell = live.submit(OrderSide.SELL, "0.01", type=OrderType.LIMIT, price=Decimal("79500"))
            assert (buy.venue, sell.venue) == ("okx", "binance")
            await live.settle()
            await live.tick_until(lambda: not buy.is_working and not sell.is_working, "both orders filled")
            assert buy.status is sell.status is OrderStatus.FILLED
            # the venues that were chosen hold the orders; the others never saw them
            assert live.emulated("okx").order(client_order_id=buy.client_order_id) is not None
            for other in ("binance", "kraken"):
                assert live.emulated(other).order(client_order_id=buy.client_order_id) is None

            await live.settle()
            recorded = route_entries(live)
            decision = recorded[buy.id]
            assert decision["venue"] == "okx" and "best expected price after fees" in str(decision["reason"])
            by_venue = {c["venue"]: c for c in decision["candidates"]}  # type: ignore[union-attr]
            expected = {name: Decimal(by_venue[name]["expected_price"]) for name in prices}
            average = {name: Decimal(by_venue[name]["average_price"]) for name in prices}
            assert average["kraken"] < average["okx"] < average["binance"]  # kraken's book is cheapest...
            assert expected["okx"] < expected["kraken"]  # ...but not after its fee
            assert expected["okx"] == min(expected.values())
            assert buy.average_price is not None and buy.average_price == average["okx"]
            assert recorded[sell.id]["venue"] == "binance"

    run(scenario())


def test_failover_while_a_venue_is_down_and_back_when_its_breaker_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        async with live_system(
            tmp_path, monkeypatch, venue_settings("binance"), venue_settings("okx")
        ) as live:
            set_price(live.emulated("binance"), "80000")
            set_price(live.emulated("okx"), "79900")
            await books_at(live, {"binance": "80000", "okx": "79900"})
            assert live.submit(OrderSide.BUY, "0.01").venue == "okx"

            # okx answers every request with a 503 until further notice: book refreshes fail, the
            # breaker opens, routed orders go to binance, and the health (/ready) lists okx down.
            live.emu.faults.inject(
                Fault(FaultKind.SERVER_ERROR, status=503), RequestMatch(venue="okx:sandbox"), times=1_000_000
            )
            okx = live.venue("okx")
            await live.tick_until(lambda: okx.unavailable() == "circuit open", "the okx circuit to open")
            failover = live.submit(OrderSide.BUY, "0.01")
            assert failover.venue == "binance"
            health = {h.name: h for h in venue_health(live.system)}
            assert (health["okx"].up, health["okx"].state) == (False, "open")
            assert "503" in health["okx"].last_failure or "okx" in health["okx"].last_failure
            assert health["binance"].up and health["paper"].up and can_trade(list(health.values()))
            metrics = Metrics()
            metrics.bind(live.system)
            text = metrics.render().decode()
            assert 'tradeforge_venue_breaker_state{venue="okx"} 2.0' in text
            assert 'tradeforge_venue_up{kind="ccxt",venue="binance"} 1.0' in text
            assert 'tradeforge_venue_request_budget_remaining{venue="okx"}' in text
            assert 'tradeforge_venue_http_request_duration_seconds_count{venue="okx"}' in text

            # okx comes back: after the cool-down the poll's probe passes, the breaker closes, and
            # routed orders go to the better price again.
            live.emu.faults.clear()
            await live.tick_until(lambda: okx.unavailable() is None, "the okx circuit to close")
            await books_at(live, {"okx": "79900"})
            back = live.submit(OrderSide.BUY, "0.01")
            assert back.venue == "okx"
            assert {h.name: h.state for h in venue_health(live.system)}["okx"] == "closed"

            await live.settle()
            decision = route_entries(live)[failover.id]
            states = {c["venue"]: (c["status"], c["detail"]) for c in decision["candidates"]}  # type: ignore[union-attr]
            assert states["okx"] == ("unavailable", "circuit open")
            assert states["binance"][0] == "priced"

    run(scenario())


def test_with_every_venue_down_a_routed_order_is_rejected_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        async with live_system(tmp_path, monkeypatch, venue_settings("bybit"), venue_settings("okx")) as live:
            live.emu.faults.inject(Fault(FaultKind.SERVER_ERROR, status=502), times=1_000_000)
            await live.tick_until(
                lambda: (
                    live.venue("bybit").unavailable() is not None
                    and live.venue("okx").unavailable() is not None
                ),
                "both circuits to open",
            )
            order = live.submit(OrderSide.BUY, "0.01")
            assert order.status is OrderStatus.REJECTED
            assert order.reject_reason is not None and order.reject_reason.startswith(
                "no venue can take the order now"
            )
            assert "bybit: circuit" in order.reject_reason and "okx: circuit" in order.reject_reason
            assert not can_trade(venue_health(live.system))  # /ready answers 503
            # an explicit venue is not routed: the paper venue still takes it
            assert live.submit(OrderSide.BUY, "0.01", venue="paper").venue == "paper"

    run(scenario())


def test_a_venue_down_at_start_is_listed_down_then_started_when_it_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service starts without it (binance trades), retries, and takes it in once it answers."""

    def okx_down(emu: Emulator) -> None:
        emu.faults.inject(
            Fault(FaultKind.SERVER_ERROR, status=503), RequestMatch(venue="okx:sandbox"), times=10**6
        )

    async def scenario() -> None:
        venues = (venue_settings("binance"), venue_settings("okx", start_retry_s=0.2))
        async with live_system(tmp_path, monkeypatch, *venues, before_build=okx_down) as live:
            okx = live.venue("okx")
            health = {h.name: h for h in venue_health(live.system)}
            assert (health["okx"].up, health["okx"].state) == (False, "not_connected")
            assert health["binance"].up and can_trade(list(health.values()))
            routed = live.submit(OrderSide.BUY, "0.01")
            assert routed.venue == "binance"
            # nothing of okx is registered yet: naming it explicitly is refused as invalid input
            with pytest.raises(ValidationError, match="unknown venue 'okx'"):
                live.submit(OrderSide.BUY, "0.01", venue="okx")

            live.emu.faults.clear()
            await live.tick_until(lambda: okx.ready and okx.unavailable() is None, "okx to start")
            assert live.submit(OrderSide.BUY, "0.01", venue="okx").venue == "okx"
            assert {h.name: h.state for h in venue_health(live.system)}["okx"] == "closed"

    run(scenario())


def test_a_venue_without_its_credential_stops_the_start_before_anything_connects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEFORGE_MASTER_KEY", generate_master_key())
    for name in ("TRADEFORGE_CCXT_RESOLVE", "TRADEFORGE_CCXT_CA_FILE"):
        monkeypatch.delenv(name, raising=False)
    settings = service_settings(tmp_path, [venue_settings("binance"), venue_settings("okx")])
    CredentialService(sql_unit_of_work_factory(settings), WallClock(), MasterKeySource(settings.var_dir)).add(
        "okx", "main", "AKEY12345678", "SECRET12345678", "passphrase", sandbox=False
    )

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(ValidationError) as missing:
            await asyncio.to_thread(build, settings, Mode.PAPER, loop=loop)
        assert missing.value.field == "venues.binance.credentials"
        assert "add it with `tradeforge credentials add --venue binance --label main --sandbox`" in str(
            missing.value
        )

    run(scenario())
    store = CredentialService(
        sql_unit_of_work_factory(settings), WallClock(), MasterKeySource(settings.var_dir)
    )
    store.add("binance", "main", "AKEY12345678", "SECRET12345678", sandbox=True)

    async def mismatch() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(
            ValidationError, match="credential okx/main is for the live venue, but the setting says sandbox"
        ):
            await asyncio.to_thread(build, settings, Mode.PAPER, loop=loop)

    run(mismatch())
