"""Amends whose answer was lost: the books take what the venue holds and book every trade.

Native amends (bybit, okx, kraken): an okx soak once ended REDUCING with the trades beyond the old
quantity never booked. Cancel-replace (binance): a soak on a loaded host once ended an order as
cancelled while its replacement lived on and filled. Under heavy CPU load an okx amend timed out
after it landed, the breaker opened before any read could confirm it, and the order then filled
completely at the amended quantity; the adapter before c824a7c marked that trade seen while it
refused it as an overfill, and its sync never read the venue's quantity: nothing could book it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.exchange_emulator import Fault, FaultKind, RequestMatch, Status
from tests.integration.ccxt_adapter.support import (
    ACCOUNT,
    SYMBOL,
    book_totals,
    emulator,
    emulator_totals,
    run,
    started,
    venue_for,
)

from tradeforge.adapters.ccxt import BreakerConfig, BreakerState
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderStatus, OrderType
from tradeforge.engine.reconciliation_events import CorrectionKind
from tradeforge.engine.risk_rules import TradingState
from tradeforge.ports.persistence import UnitOfWorkFactory

from .support import ReconSystem, reconciled

pytestmark = pytest.mark.timeout(60)

# Every private request fails after the venue applied it: the amend lands, yet neither its answer
# nor any read that could show it landed gets through, so the adapter refuses it.
LOST = Fault(FaultKind.SERVER_ERROR, status=504, applied=True)
# The amend lands, then its answer is held past the client's timeout (1 s in these tests).
TIMED_OUT = Fault(FaultKind.TIMEOUT, applied=True, hold_s=1.5)
AMEND_PATHS = {
    "bybit": "/v5/order/amend",
    "okx": "/api/v5/trade/amend-order",
    "kraken": "/0/private/AmendOrder",
}
# One failure opens the breaker; no cool-down, so it is half-open at once: only a probe may pass
# (the poll's balance read), every other request is refused before it is sent.
TRIPS_AT_ONCE = BreakerConfig(failure_threshold=1, cool_down_s=0)


@pytest.mark.parametrize("venue", ["bybit", "okx", "kraken"])  # binance amends by cancel-replace
@pytest.mark.parametrize("corrected_first", [False, True], ids=["fill-first", "corrected-first"])
def test_fills_beyond_the_quantity_of_a_lost_amend_are_booked(
    venue: str, corrected_first: bool, sql_store: UnitOfWorkFactory
) -> None:
    async def scenario() -> None:
        async with reconciled(venue, sql_store) as (emu, handle, system):
            order = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.02", "80000")
            await system.settle()
            venue_id = order.venue_order_id or ""
            handle.fill(venue_id, "0.015")
            await system.settle()
            assert order.filled_quantity == Decimal("0.015")

            emu.faults.inject(LOST, RequestMatch(private_only=True), 1_000)
            system.amend(order, "0.03")
            await system.venue.drain()
            emu.faults.clear()
            assert [r.action for r in system.venue.refusals] == ["amend"]
            assert handle.state.orders[venue_id].quantity == Decimal("0.03")  # it landed
            assert order.quantity == Decimal("0.02")

            if corrected_first:  # a run takes the venue's quantity before the venue fills more
                report = await system.reconciler.reconcile("periodic")
                assert [c.kind for c in report.corrections] == [CorrectionKind.ORDER_AMENDED]
                assert order.quantity == Decimal("0.03") and system.state() is TradingState.ACTIVE
            # Beyond the old quantity, then the rest cancelled: 0.0225 of 0.03 filled on the venue.
            handle.fill(venue_id, "0.0075")
            handle.cancel(venue_id)
            await system.settle()  # polling alone
            if not corrected_first:  # the trade would overfill 0.02: it waits for the reconciler
                assert order.filled_quantity == Decimal("0.015")
            assert list(system.venue.anomalies) == []  # an amend in doubt explains it: not an anomaly

            report = await system.reconciler.reconcile("periodic")
            assert report.failed is None and report.discrepancies == []
            # (ccxt reads bybit's PartiallyFilledCanceled as "closed": reported expired)
            assert order.status is (OrderStatus.EXPIRED if venue == "bybit" else OrderStatus.CANCELLED)
            assert (order.quantity, order.filled_quantity) == (Decimal("0.03"), Decimal("0.0225"))
            venue_fills = handle.state.orders[venue_id].fills
            assert handle.state.orders[venue_id].status is Status.CANCELED
            assert sorted(f.fill_id for f in system.fills) == sorted(
                f"{venue}:{f.trade_id}" for f in venue_fills
            )
            assert book_totals(system.portfolio.balances(ACCOUNT)) == emulator_totals(emu, venue)
            assert system.state() is TradingState.ACTIVE
            # The sync had the adapter report the amend (fill-first: then the fill and the cancel);
            # corrected first, the adapter knew the quantity and polling booked the rest.
            expected = ["order_amended"] if corrected_first else ["order_amended", "fill", "order_status"]
            assert [c.kind for c in system.corrections()] == expected

            again = await system.reconciler.reconcile("periodic")
            assert again.corrections == [] and again.discrepancies == []

    run(scenario())


@pytest.mark.parametrize("resolved_by", ["poll", "reconciliation"])
def test_a_cancel_replace_whose_outcome_is_unknown_is_resolved_not_ended(
    resolved_by: str, sql_store: UnitOfWorkFactory
) -> None:
    async def scenario() -> None:
        async with reconciled("binance", sql_store) as (emu, handle, system):
            order = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.02", "80000")
            await system.settle()

            # The read before the replace passes; the cancelReplace lands, but neither its answer
            # nor the lookup by client id (the same path) gets through.
            read = RequestMatch(method="GET", path="/api/v3/order")
            emu.faults.inject(Fault(FaultKind.DELAY, hold_s=0.01), read, 1)
            replace = RequestMatch(method="POST", path="/api/v3/order/cancelReplace")
            emu.faults.inject(LOST, replace, 1)
            emu.faults.inject(Fault(FaultKind.SERVER_ERROR, status=503), read, 100)
            system.amend(order, "0.03")
            await system.venue.drain()
            emu.faults.clear()
            assert [r.action for r in system.venue.refusals] == ["amend"]
            copies = sorted(
                (o for o in handle.state.orders.values() if o.client_order_id == "tf-binance-0"),
                key=lambda o: o.seq,
            )
            assert [o.status for o in copies] == [Status.CANCELED, Status.NEW]
            replacement = copies[-1].order_id
            assert order.status is OrderStatus.OPEN and order.quantity == Decimal("0.02")
            assert system.venue.unresolved_orders() == [order.id]
            handle.fill(replacement)  # all of it, before anyone looked

            if resolved_by == "poll":
                await system.settle()
            report = await system.reconciler.reconcile("periodic")
            assert report.failed is None and report.discrepancies == []
            assert (order.status, order.quantity, order.filled_quantity) == (
                OrderStatus.FILLED,
                Decimal("0.03"),
                Decimal("0.03"),
            )
            fill_ids = [f.fill_id for f in system.fills]
            assert fill_ids == [f"binance:{f.trade_id}" for f in handle.state.orders[replacement].fills]
            assert book_totals(system.portfolio.balances(ACCOUNT)) == emulator_totals(emu, "binance")
            events = [type(e).__name__ for e in system.events if e.order_id == order.id]
            assert events[-2:] == ["OrderAmended", "OrderFilled"] and "OrderCancelled" not in events
            assert system.state() is TradingState.ACTIVE
            assert list(system.venue.anomalies) == []

            again = await system.reconciler.reconcile("periodic")
            assert again.corrections == [] and again.discrepancies == []

    run(scenario())


@pytest.mark.parametrize("venue", ["bybit", "okx", "kraken"])
def test_an_amend_lost_to_a_timeout_then_an_open_breaker_is_taken_with_its_fill(
    venue: str, sql_store: UnitOfWorkFactory
) -> None:
    async def scenario() -> None:
        async with (
            emulator(venue) as emu,
            started(venue_for(emu, venue, breaker=TRIPS_AT_ONCE)) as adapter,
        ):
            handle = emu.venue(venue)
            handle.set_price(SYMBOL, "86000")
            system = ReconSystem.build(adapter, sql_store)
            await system.reconciler.recover()
            order = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.02", "80000")
            await system.settle()
            venue_id = order.venue_order_id or ""

            emu.faults.inject(TIMED_OUT, RequestMatch(method="POST", path=AMEND_PATHS[venue]), 1)
            system.amend(order, "0.03", "79000")
            await adapter.drain()
            # The timeout opened the breaker: the read that would have shown the amend landed, and
            # the amend's retries, were refused without being sent.
            assert [r.action for r in adapter.refusals] == ["amend"]
            assert "circuit" in adapter.refusals[0].reason
            venue_order = handle.state.orders[venue_id]
            assert (venue_order.quantity, venue_order.price) == (Decimal("0.03"), Decimal("79000"))
            assert (order.quantity, order.price) == (Decimal("0.02"), Decimal("80000"))

            handle.fill(venue_id)  # all of the amended quantity, in one trade
            await system.settle()  # the poll probes, the breaker closes, the order is followed
            assert adapter.breaker_snapshot().state is BreakerState.CLOSED
            assert handle.state.orders[venue_id].status is Status.FILLED
            # Beyond the 0.02 known here: it waits for the reconciler (still unbooked, not an anomaly).
            assert order.filled_quantity == Decimal("0")
            await system.settle()
            assert order.filled_quantity == Decimal("0") and list(adapter.anomalies) == []

            report = await system.reconciler.reconcile("periodic")
            assert report.failed is None and report.discrepancies == []
            assert (order.status, order.quantity, order.price, order.filled_quantity) == (
                OrderStatus.FILLED,
                Decimal("0.03"),
                Decimal("79000"),
                Decimal("0.03"),
            )
            assert [c.kind for c in system.corrections()] == ["order_amended", "fill"]
            assert sorted(f.fill_id for f in system.fills) == sorted(
                f"{venue}:{f.trade_id}" for f in handle.state.orders[venue_id].fills
            )
            assert book_totals(system.portfolio.balances(ACCOUNT)) == emulator_totals(emu, venue)
            assert system.state() is TradingState.ACTIVE
            assert list(adapter.anomalies) == []
            assert adapter.working_order_ids() == []

            again = await system.reconciler.reconcile("periodic")
            assert again.corrections == [] and again.discrepancies == []

    run(scenario())
