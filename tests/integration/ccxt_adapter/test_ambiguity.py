"""Ambiguous creates: looked up by client order id, sent again only when provably absent, never doubled."""

from __future__ import annotations

import pytest
from tests.exchange_emulator import Emulator, Fault, FaultKind, RequestMatch

from tradeforge.adapters.ccxt import VENUES as CAPABILITIES
from tradeforge.adapters.ccxt import VenueRateLimited
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import Order, OrderStatus, OrderType

from .support import SYMBOL, VENUES, OmsSystem, emulator, run, started, venue_for

pytestmark = pytest.mark.timeout(60)

CREATE_PATHS = {
    "binance": "/api/v3/order",
    "bybit": "/v5/order/create",
    "okx": "/api/v5/trade/batch-orders",  # ccxt's create_order route on okx
    "kraken": "/0/private/AddOrder",
}


def create_match(venue: str) -> RequestMatch:
    return RequestMatch(venue=venue, method="POST", path=CREATE_PATHS[venue])


def creates(emu: Emulator, venue: str) -> list[int | None]:
    """The status of every create request the venue saw (None: no answer was sent)."""
    return [r.status for r in emu.requests_for(venue) if r.method == "POST" and r.path == CREATE_PATHS[venue]]


def copies(emu: Emulator, venue: str, order: Order) -> int:
    venue_cid = CAPABILITIES[venue].client_id.venue_id(order.client_order_id)
    return sum(1 for o in emu.venue(venue).state.orders.values() if o.client_order_id == venue_cid)


@pytest.mark.parametrize("venue", VENUES)
def test_timeout_after_placement_is_found_by_client_id_and_reported_once(venue: str) -> None:
    async def scenario() -> None:
        async with emulator(venue) as emu, started(venue_for(emu, venue, timeout_ms=300)) as adapter:
            system = OmsSystem.build(adapter)
            emu.faults.inject(Fault(FaultKind.TIMEOUT, applied=True, hold_s=1.0), create_match(venue))
            order = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "80000")
            await system.settle()
            assert order.status is OrderStatus.OPEN
            assert (
                order.venue_order_id
                == emu.venue(venue)
                .order(client_order_id=CAPABILITIES[venue].client_id.venue_id(order.client_order_id))
                .order_id
            )  # type: ignore[union-attr]
            assert system.events_of(order) == ["OrderSubmitted", "OrderAccepted"]
            assert creates(emu, venue) == [None] and copies(emu, venue, order) == 1  # never sent again
            market = system.submit(OrderType.MARKET, OrderSide.BUY, "0.01")
            emu.faults.inject(Fault(FaultKind.TIMEOUT, applied=True, hold_s=1.0), create_match(venue))
            filled = system.submit(OrderType.MARKET, OrderSide.SELL, "0.01")
            await system.settle()
            assert (market.status, filled.status) == (OrderStatus.FILLED, OrderStatus.FILLED)
            assert system.events_of(filled).count("OrderFilled") == len(
                emu.venue(venue).state.orders[filled.venue_order_id or ""].fills
            )
            assert copies(emu, venue, filled) == 1
            emu.venue(venue).state.check_invariants()

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_a_create_that_never_reached_the_venue_is_sent_again_once(venue: str) -> None:
    async def scenario() -> None:
        async with emulator(venue) as emu, started(venue_for(emu, venue)) as adapter:
            system = OmsSystem.build(adapter)
            emu.faults.inject(Fault(FaultKind.DROP, applied=False), create_match(venue))
            dropped = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "80000")
            emu.faults.inject(Fault(FaultKind.SERVER_ERROR, status=502, applied=True), create_match(venue))
            applied = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "80100")
            await system.settle()
            assert (dropped.status, applied.status) == (OrderStatus.OPEN, OrderStatus.OPEN)
            assert copies(emu, venue, dropped) == 1 and copies(emu, venue, applied) == 1
            # three creates: the dropped one, its resend, and the 502 that had placed its order
            assert sorted(creates(emu, venue), key=str) == [200, 502, None]
            assert emu.faults.total(venue=venue) == 2

    run(scenario())


def test_rate_limited_creates_wait_for_retry_after_and_are_placed_once() -> None:
    async def scenario() -> None:
        async with emulator("binance") as emu, started(venue_for(emu, "binance")) as adapter:
            system = OmsSystem.build(adapter)
            emu.faults.inject(
                Fault(FaultKind.RATE_LIMIT, status=429, retry_after_s=0), create_match("binance")
            )
            order = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "80000")
            await system.settle()
            assert order.status is OrderStatus.OPEN and copies(emu, "binance", order) == 1
            assert creates(emu, "binance") == [429, 200]
            emu.faults.inject(Fault(FaultKind.RATE_LIMIT, status=418, retry_after_s=30), RequestMatch())
            with pytest.raises(VenueRateLimited) as raised:
                await adapter.client.call("fetch_balance")
            assert raised.value.banned and raised.value.retry_after_s == 30
            # everyone sharing the budget now waits out the venue's Retry-After before sending
            assert await adapter.client.budget.try_acquire(1) > 25

    run(scenario())


@pytest.mark.parametrize("venue", ["okx", "kraken"])
def test_an_unresolvable_create_stays_pending_until_a_poll_finds_it(venue: str) -> None:
    async def scenario() -> None:
        async with emulator(venue) as emu, started(venue_for(emu, venue, timeout_ms=300)) as adapter:
            system = OmsSystem.build(adapter)
            emu.faults.inject(Fault(FaultKind.TIMEOUT, applied=True, hold_s=1.0), create_match(venue))
            emu.faults.inject(Fault(FaultKind.SERVER_ERROR, status=503), RequestMatch(venue=venue), times=8)
            order = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "80000")
            await adapter.drain()
            assert order.status is OrderStatus.PENDING  # the venue may hold it: no verdict, no resend
            assert adapter.unresolved_orders() == [order.id]
            emu.faults.clear()
            await system.settle()
            assert order.status is OrderStatus.OPEN and adapter.unresolved_orders() == []
            assert creates(emu, venue) == [None] and copies(emu, venue, order) == 1
            assert system.events_of(order) == ["OrderSubmitted", "OrderAccepted"]

    run(scenario())


def test_symbols_and_sizes_reach_the_venue_exactly() -> None:
    async def scenario() -> None:
        async with emulator("kraken") as emu, started(venue_for(emu, "kraken")) as adapter:
            system = OmsSystem.build(adapter)
            order = system.submit(OrderType.LIMIT, OrderSide.SELL, "0.12345678", "95000.1")
            await system.settle()
            placed = emu.venue("kraken").state.orders[order.venue_order_id or ""]
            assert (placed.symbol, str(placed.quantity), str(placed.price)) == (
                SYMBOL,
                "0.12345678",
                "95000.1",
            )

    run(scenario())
