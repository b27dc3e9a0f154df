"""Through the real OMS: each venue's ccxt class places, amends, cancels and queries orders."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.exchange_emulator import Status

from tradeforge.adapters.ccxt import VENUES as CAPABILITIES
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderStatus, OrderType, TimeInForce

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
def test_market_and_limit_orders_amend_cancel_query_and_balances(venue: str) -> None:
    caps = CAPABILITIES[venue]

    async def scenario() -> None:
        async with emulator(venue) as emu, started(venue_for(emu, venue)) as adapter:
            handle = emu.venue(venue)
            state = handle.state
            system = OmsSystem.build(adapter)
            tick = system.instrument().tick_size

            bought = system.submit(OrderType.MARKET, OrderSide.BUY, "0.01", client_order_id="tf-mkt.1")
            await system.settle()
            assert bought.status is OrderStatus.FILLED
            venue_order = state.orders[bought.venue_order_id or ""]
            assert venue_order.client_order_id == caps.client_id.venue_id("tf-mkt.1")
            fills = [f for f in system.fills if f.order_id == bought.id]
            assert [(f.quantity, f.price, f.fee, f.fee_asset) for f in fills] == [
                (v.quantity, v.price, v.fee, v.fee_asset) for v in venue_order.fills
            ]
            assert bought.filled_quantity == Decimal("0.01") and all(
                f.fill_id == f"{venue}:{v.trade_id}" for f, v in zip(fills, venue_order.fills, strict=True)
            )
            assert system.events_of(bought) == ["OrderSubmitted", "OrderAccepted"] + ["OrderFilled"] * len(
                fills
            )

            low = (state.market.last(SYMBOL) * Decimal("0.9") / tick).to_integral_value() * tick
            resting = system.submit(
                OrderType.LIMIT, OrderSide.BUY, "0.01", str(low), client_order_id="tf-lim-1"
            )
            await system.settle()
            assert resting.status is OrderStatus.OPEN
            first_venue_id = resting.venue_order_id or ""
            assert state.orders[first_venue_id].status is Status.NEW

            system.amend(resting, quantity="0.02", price=str(low - tick * 10))
            await system.settle()
            assert (resting.quantity, resting.price, resting.status) == (
                Decimal("0.02"),
                low - tick * 10,
                OrderStatus.OPEN,
            )
            live_ids = adapter.venue_order_ids(resting.id)
            live = state.orders[live_ids[-1]]
            assert (live.quantity, live.price, live.status) == (Decimal("0.02"), low - tick * 10, Status.NEW)
            assert live.client_order_id == caps.client_id.venue_id("tf-lim-1")
            if caps.amend_style.value == "cancel_replace":
                assert live_ids[0] == first_venue_id and len(live_ids) == 2
                assert state.orders[first_venue_id].status is Status.CANCELED
            else:
                assert live_ids == (first_venue_id,)
            assert "OrderAmended" in system.events_of(resting)

            found = await adapter.find_order("tf-lim-1", SYMBOL)
            assert found is not None and found.venue_order_id == live.order_id
            assert [o.venue_order_id for o in await adapter.fetch_open_orders(SYMBOL)] == [live.order_id]
            queried = await adapter.fetch_order(live.order_id, SYMBOL)
            assert (queried.status, queried.quantity, queried.price) == (
                OrderStatus.OPEN,
                Decimal("0.02"),
                live.price,
            )
            assert await adapter.find_order("tf-never-sent", SYMBOL) is None

            system.cancel(resting)
            await system.settle()
            assert resting.status is OrderStatus.CANCELLED
            assert live.status is Status.CANCELED and state.balances["USDT"].locked == 0

            venue_books = book_totals(await adapter.fetch_balances())
            assert venue_books == emulator_totals(emu, venue)
            assert book_totals(system.portfolio.balances(ACCOUNT)) == venue_books  # the books match exactly
            assert handle.stats.unverified_accepted == 0 and handle.stats.rejected == 0
            assert not adapter.anomalies
            state.check_invariants()

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_immediate_or_cancel_fills_what_it_can_and_expires_the_rest(venue: str) -> None:
    async def scenario() -> None:
        async with emulator(venue) as emu, started(venue_for(emu, venue)) as adapter:
            handle = emu.venue(venue)
            handle.set_price(SYMBOL, "86000")
            system = OmsSystem.build(adapter)
            taker = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "87000", tif=TimeInForce.IOC)
            missed = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "80000", tif=TimeInForce.IOC)
            await system.settle()
            assert (taker.status, taker.filled_quantity) == (OrderStatus.FILLED, Decimal("0.01"))
            assert missed.status is OrderStatus.EXPIRED and missed.filled_quantity == 0
            assert handle.state.orders[missed.venue_order_id or ""].time_in_force.value == "IOC"
            assert book_totals(system.portfolio.balances(ACCOUNT)) == emulator_totals(emu, venue)

    run(scenario())
