"""Stops, out-of-band fills and cancels, GTD expiry and restarts: what the adapter learns by polling."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from tests.exchange_emulator import Status

from tradeforge.adapters.ccxt import VENUES as CAPABILITIES
from tradeforge.adapters.clocks import SimulatedClock, WallClock
from tradeforge.domain.events import OrderEvent
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import Order, OrderStatus, OrderType, TimeInForce

from .support import (
    ACCOUNT,
    SYMBOL,
    VENUES,
    OmsSystem,
    book_totals,
    emulator,
    emulator_totals,
    run,
    started,
    venue_for,
)

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("venue", VENUES)
def test_stop_orders_trigger_fill_and_cancel(venue: str) -> None:
    caps = CAPABILITIES[venue]
    # binance BTCUSDT lists no STOP_LOSS: its stops are stop-limits; elsewhere a stop-market too
    kind = OrderType.STOP if caps.supports(OrderType.STOP) else OrderType.STOP_LIMIT
    price = "84900" if kind is OrderType.STOP_LIMIT else None

    async def scenario() -> None:
        async with emulator(venue) as emu, started(venue_for(emu, venue)) as adapter:
            handle = emu.venue(venue)
            handle.set_price(SYMBOL, "86000")
            system = OmsSystem.build(adapter)
            stop = system.submit(kind, OrderSide.SELL, "0.01", price, stop="85000")
            spare = system.submit(OrderType.STOP_LIMIT, OrderSide.SELL, "0.01", "79900", stop="80000")
            await system.settle()
            assert (stop.status, spare.status) == (OrderStatus.OPEN, OrderStatus.OPEN)
            assert handle.state.orders[stop.venue_order_id or ""].status is Status.UNTRIGGERED

            handle.set_price(SYMBOL, "84950")  # the stop triggers and sells
            await system.settle()
            assert stop.status is OrderStatus.FILLED and stop.triggered
            assert system.events_of(stop)[-2:] == ["OrderTriggered", "OrderFilled"]
            venue_fills = handle.state.orders[stop.venue_order_id or ""].fills
            assert [f.quantity for f in system.fills if f.order_id == stop.id] == [
                f.quantity for f in venue_fills
            ]

            if OrderType.STOP_LIMIT in caps.amendable:
                system.amend(spare, quantity="0.02", price="79800")
                await system.settle()
                amended = handle.state.orders[adapter.venue_order_ids(spare.id)[-1]]
                assert (amended.quantity, amended.price, amended.trigger_price) == (
                    Decimal("0.02"),
                    Decimal("79800"),
                    Decimal("80000"),
                )
                assert (spare.quantity, spare.price, spare.status) == (
                    Decimal("0.02"),
                    Decimal("79800"),
                    OrderStatus.OPEN,
                )
            system.cancel(spare)  # an untriggered stop lives apart on bybit and okx
            await system.settle()
            assert spare.status is OrderStatus.CANCELLED
            assert handle.state.orders[spare.venue_order_id or ""].status is Status.CANCELED
            assert book_totals(system.portfolio.balances(ACCOUNT)) == emulator_totals(emu, venue)
            handle.state.check_invariants()

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_out_of_band_fills_cancels_and_gtd_expiry_are_reported_once(venue: str) -> None:
    async def scenario() -> None:
        clock = SimulatedClock(WallClock().now_ms())
        async with emulator(venue) as emu, started(venue_for(emu, venue, clock=clock)) as adapter:
            handle = emu.venue(venue)
            handle.set_price(SYMBOL, "86000")
            system = OmsSystem.build(adapter)
            partly = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.02", "80000")
            dropped = system.submit(OrderType.LIMIT, OrderSide.SELL, "0.01", "95000")
            dated = system.submit(
                OrderType.LIMIT,
                OrderSide.BUY,
                "0.01",
                "79000",
                tif=TimeInForce.GTD,
                expire_at=clock.now_ms() + 60_000,
            )
            await system.settle()
            handle.fill(partly.venue_order_id or "", "0.005")
            handle.cancel(dropped.venue_order_id or "")
            await system.settle()
            await system.settle()  # a second round finds nothing new: nothing is reported twice
            assert (partly.status, partly.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, Decimal("0.005"))
            assert dropped.status is OrderStatus.CANCELLED and dropped.updated_at > 0
            assert system.events_of(dropped)[-1] == "OrderCancelled"
            handle.fill(partly.venue_order_id or "")
            await system.settle()
            assert (partly.status, partly.filled_quantity) == (OrderStatus.FILLED, Decimal("0.02"))
            assert system.events_of(partly).count("OrderFilled") == 2

            clock.advance(60_000)  # the venue's clock reaches expire_at: the adapter cancels it
            await system.settle()
            assert dated.status is OrderStatus.EXPIRED
            assert handle.state.orders[dated.venue_order_id or ""].status is Status.CANCELED
            assert book_totals(system.portfolio.balances(ACCOUNT)) == emulator_totals(emu, venue)

    run(scenario())


@pytest.mark.parametrize("marked", [False, True], ids=["oldest-first", "stored-fills"])
@pytest.mark.parametrize("venue", VENUES)
def test_a_restarted_adapter_reports_only_what_the_books_lack_and_never_resends(
    venue: str, marked: bool
) -> None:
    caps = CAPABILITIES[venue]

    async def scenario() -> None:
        async with emulator(venue) as emu:
            handle = emu.venue(venue)
            handle.set_price(SYMBOL, "86000")
            async with started(venue_for(emu, venue)) as first:
                system = OmsSystem.build(first)
                order = system.submit(
                    OrderType.LIMIT, OrderSide.BUY, "0.03", "80000", client_order_id="tf-r-1"
                )
                crashed = system.submit(
                    OrderType.LIMIT, OrderSide.BUY, "0.01", "79000", client_order_id="tf-r-2"
                )
                await system.settle()
                handle.fill(order.venue_order_id or "", "0.01")
                await system.settle()
                if caps.amend_style.value == "cancel_replace":
                    system.amend(order, price="80100")  # the stored venue order id goes stale
                    await system.settle()
            assert order.filled_quantity == Decimal("0.01")
            live = handle.order(client_order_id=caps.client_id.venue_id("tf-r-1"))
            assert live is not None
            handle.fill(live.order_id, "0.01")  # while the process is down
            # the process died before it stored that the second order was accepted
            pending = dataclasses.replace(crashed, _status=OrderStatus.PENDING, venue_order_id=None)
            orders_before = len(handle.state.orders)

            async with started(venue_for(emu, venue)) as second:
                sink = ApplyingSink({order.id: order, pending.id: pending})
                second.bind(sink)
                second.restore([order, pending], [])
                if marked:  # the fills the OMS stored in its first life
                    second.mark_trades_seen(f.fill_id for f in system.fills)
                await second.poll()
                await second.drain()
                assert order.filled_quantity == Decimal("0.02")  # only the fill it had not booked
                assert [type(e).__name__ for e in sink.events if e.order_id == order.id] == ["OrderFilled"]
                assert (pending.status, pending.venue_order_id) == (OrderStatus.OPEN, crashed.venue_order_id)
                assert len(handle.state.orders) == orders_before  # found by client id, nothing sent again
                assert second.venue_order_ids(order.id)[-1] == live.order_id

    run(scenario())


class ApplyingSink:
    """The port-boundary stand-in for the OMS: applies each report to its order, as the OMS does."""

    def __init__(self, orders: dict[str, Order]) -> None:
        self.orders = orders
        self.events: list[OrderEvent] = []

    def __call__(self, event: OrderEvent) -> None:
        self.events.append(event)
        self.orders[event.order_id].apply(event)
