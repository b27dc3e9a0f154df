"""A seeded fault soak per venue: the OMS's books end exactly equal to the emulator's, no order doubled."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest
from tests.exchange_emulator import FaultKind, RandomFaults, Status

from tradeforge.adapters.ccxt import VENUES as CAPABILITIES
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import Order, OrderStatus, OrderType

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

pytestmark = pytest.mark.timeout(120)

ORDERS = 60
FAULTS = RandomFaults(
    seed=11,
    rates={
        FaultKind.TIMEOUT: 0.03,
        FaultKind.DROP: 0.03,
        FaultKind.SERVER_ERROR: 0.04,
        FaultKind.OOB_PARTIAL_FILL: 0.03,
        FaultKind.OOB_FILL: 0.02,
        FaultKind.OOB_CANCEL: 0.02,
    },
    hold_s=0.6,
)
VENUE_STATUS = {
    Status.NEW: {OrderStatus.OPEN},
    Status.UNTRIGGERED: {OrderStatus.OPEN},
    Status.PARTIALLY_FILLED: {OrderStatus.PARTIALLY_FILLED},
    Status.FILLED: {OrderStatus.FILLED},
    Status.CANCELED: {OrderStatus.CANCELLED, OrderStatus.EXPIRED},
    Status.EXPIRED: {OrderStatus.EXPIRED},
}


@pytest.mark.parametrize("venue", VENUES)
def test_random_faults_leave_no_discrepancy(venue: str) -> None:
    rng = random.Random(f"soak-{venue}")

    async def scenario() -> None:
        async with emulator(venue) as emu, started(venue_for(emu, venue, timeout_ms=300)) as adapter:
            handle = emu.venue(venue)
            system = OmsSystem.build(adapter)
            price = Decimal("86000")
            handle.set_price(SYMBOL, price)
            orders: list[Order] = []
            emu.faults.randomize(FAULTS)
            for step in range(ORDERS):
                roll = rng.random()
                working = [o for o in orders if o.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)]
                if roll < 0.25:
                    side = rng.choice([OrderSide.BUY, OrderSide.SELL])
                    orders.append(system.submit(OrderType.MARKET, side, "0.01"))
                elif roll < 0.33:  # a stop-limit the random walk may trigger
                    side = rng.choice([OrderSide.BUY, OrderSide.SELL])
                    sign = 1 if side is OrderSide.BUY else -1
                    stop = price + sign * Decimal(rng.randrange(200, 900))
                    orders.append(
                        system.submit(
                            OrderType.STOP_LIMIT, side, "0.01", str(stop + sign * 50), stop=str(stop)
                        )
                    )
                elif roll < 0.75 or not working:
                    side = rng.choice([OrderSide.BUY, OrderSide.SELL])
                    offset = Decimal(rng.randrange(-300, 1500)) * (-1 if side is OrderSide.BUY else 1)
                    orders.append(system.submit(OrderType.LIMIT, side, "0.02", str(price + offset)))
                elif roll < 0.87:
                    system.cancel(rng.choice(working))
                elif limits := [o for o in working if o.type is OrderType.LIMIT]:
                    target = rng.choice(limits)
                    step_price = Decimal(rng.randrange(-100, 100))
                    assert target.price is not None
                    system.amend(target, quantity="0.03", price=str(target.price + step_price))
                if step % 5 == 4:
                    price += Decimal(rng.randrange(-400, 400))
                    handle.set_price(SYMBOL, price)  # resting orders the market reaches fill
                    await system.settle()
            emu.faults.randomize(None)
            for _ in range(3):  # the venue is healthy again: polling converges
                await system.settle()

            assert adapter.unresolved_orders() == [] and not adapter.anomalies
            cids = Counter(o.client_order_id for o in handle.state.orders.values())
            rule = CAPABILITIES[venue].client_id
            for order in orders:
                venue_cid = rule.venue_id(order.client_order_id)
                copies = [o for o in handle.state.orders.values() if o.client_order_id == venue_cid]
                if order.status is OrderStatus.REJECTED:
                    assert copies == [], (order, copies)
                    continue
                live = max(copies, key=lambda o: o.seq)
                assert order.venue_order_id == min(copies, key=lambda o: o.seq).order_id
                if CAPABILITIES[venue].amend_style.value == "native":
                    assert cids[venue_cid] == 1  # never doubled
                else:  # cancel-replace: earlier copies were replaced, only the last may work
                    assert all(not o.is_open for o in copies if o is not live)
                filled = sum((o.filled for o in copies), Decimal(0))
                expected = VENUE_STATUS[live.status]
                if live.is_open and filled:  # fills on a copy replaced by an amend count too
                    expected = {OrderStatus.PARTIALLY_FILLED}
                assert order.status in expected, (order, live)
                assert order.filled_quantity == filled
            booked = {f.fill_id for f in system.fills}
            assert len(booked) == len(system.fills)  # each trade reported once
            assert booked == {f"{venue}:{f.trade_id}" for f in handle.state.fills}
            assert book_totals(system.portfolio.balances(ACCOUNT)) == emulator_totals(emu, venue)
            handle.state.check_invariants()
            injected = emu.faults.summary().get(venue, {})
            print(f"\n{venue}: {len(orders)} orders, {len(booked)} fills, faults injected {injected}")
            assert sum(injected.values()) >= 10

    run(scenario())
