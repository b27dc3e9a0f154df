"""Whole-system properties: random commands and real market data through OMS, risk, paper venue and
portfolio; the books must always equal exactly what the fills imply."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeforge.adapters.clocks import SimulatedClock
from tradeforge.adapters.market_data.bar_files import BarFile
from tradeforge.adapters.memory.uow import InMemoryUnitOfWorkFactory
from tradeforge.domain.balances import fill_cash_flows
from tradeforge.domain.commands import AmendOrder, CancelAllOrders, CancelOrder, SubmitOrder
from tradeforge.domain.errors import TradeForgeError
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderStatus, OrderType, TimeInForce
from tradeforge.runtime.bootstrap import Mode, build
from tradeforge.runtime.settings import Settings

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"
START = {"USDT": Decimal("50000"), "BTC": Decimal("0.5")}


def _bars() -> list:  # type: ignore[type-arg]
    from tradeforge.engine.instruments import InstrumentRegistry
    from tradeforge.runtime.bootstrap import instruments_from_settings

    registry = InstrumentRegistry(instruments_from_settings(Settings(feeds=())))
    return list(BarFile(SAMPLE, registry.get("paper", "BTC/USDT")).bars())[:400]


BARS = _bars()

order_commands = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["submit", "submit", "submit", "cancel", "amend", "cancel_all", "bars"]),
        "side": st.sampled_from(list(OrderSide)),
        "type": st.sampled_from(list(OrderType)),
        "tif": st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTD]),
        "quantity": st.integers(min_value=1, max_value=8000).map(lambda n: Decimal(n) / 10000),
        "offset": st.integers(min_value=-300, max_value=300).map(lambda n: Decimal(n) / 10000),
        "pick": st.integers(min_value=0, max_value=50),
        "bars": st.integers(min_value=1, max_value=15),
        "retry": st.booleans(),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(order_commands, min_size=5, max_size=60))
def test_random_commands_keep_the_books_exact(steps: list[dict]) -> None:  # type: ignore[type-arg]
    clock = SimulatedClock(BARS[0].ts)
    system = build(
        Settings(feeds=(), starting_balances=START, risk={"max_submits_per_second": None}),
        Mode.SYNC,
        clock=clock,
        uow_factory=InMemoryUnitOfWorkFactory(),
    )
    seen_events: list[object] = []
    system.bus.subscribe("events.>", seen_events.append)
    cursor = 0
    submitted: list[str] = []

    def feed(count: int) -> None:
        nonlocal cursor
        for bar in BARS[cursor : cursor + count]:
            clock.set(bar.ts)
            system.process_bar(bar)
        cursor = min(len(BARS), cursor + count)

    feed(2)
    for index, step in enumerate(steps):
        last = system.portfolio.last_price("BTC/USDT")
        assert last is not None
        price = (last * (1 + step["offset"])).quantize(Decimal("0.01"))
        kind = step["kind"]
        try:
            if kind == "submit":
                order_type = step["type"]
                client_id = f"c{index}" if not (step["retry"] and submitted) else submitted[-1]
                command = SubmitOrder(
                    account_id="main",
                    client_order_id=client_id,
                    symbol="BTC/USDT",
                    side=step["side"],
                    type=order_type,
                    quantity=step["quantity"],
                    price=price if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
                    stop_price=price if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else None,
                    time_in_force=step["tif"],
                    expire_at=clock.now_ms() + 5 * 60_000 if step["tif"] is TimeInForce.GTD else None,
                )
                order, _ = system.send(command)
                submitted.append(order.client_order_id)
            elif kind in ("cancel", "amend"):
                working = system.cache.all_working()
                if working:
                    target = working[step["pick"] % len(working)]
                    if kind == "cancel":
                        system.send(CancelOrder("main", target.id))
                    else:
                        new_qty = target.filled_quantity + step["quantity"]
                        new_price = price if target.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
                        system.send(AmendOrder("main", target.id, new_qty, new_price))
            elif kind == "cancel_all":
                system.send(CancelAllOrders("main"))
            else:
                feed(step["bars"])
        except TradeForgeError:
            pass  # refused input: a clear error, and (checked below) the books stay exact

    with system.uow_factory() as uow:
        fills = uow.fills.list_all()
        stored_orders = {o.id: o for o in uow.orders.list(_all_orders_query()).items}
        stored_positions = {p.symbol: p for p in uow.positions.list_all()}
        stored_balances = {b.asset: b.total for b in uow.balances.list_all()}

    expected = defaultdict(Decimal, START)
    filled_by_order: dict[str, Decimal] = defaultdict(Decimal)
    net = Decimal(0)
    for fill in fills:
        for asset, amount in fill_cash_flows(fill, "BTC", "USDT").items():
            expected[asset] += amount
        filled_by_order[fill.order_id] += fill.quantity
        net += fill.quantity if fill.side is OrderSide.BUY else -fill.quantity
    # Books (memory and database) equal what the fills imply, exactly.
    for asset, amount in expected.items():
        assert system.portfolio.balance_total("main", asset) == amount
        assert stored_balances.get(asset, Decimal(0)) == amount
        assert amount >= 0
    assert system.portfolio.position_quantity("main", "BTC/USDT") == net
    if fills:
        assert stored_positions["BTC/USDT"].quantity == net
    # The venue's own account agrees with the books.
    venue_totals = {b.asset: b.total for b in system.venues["paper"].balances("main")}
    for asset, amount in expected.items():
        assert venue_totals.get(asset, Decimal(0)) == amount
    # Every order: filled never exceeds quantity and equals the sum of its fills.
    for order in stored_orders.values():
        assert 0 <= order.filled_quantity <= order.quantity
        assert order.filled_quantity == filled_by_order.get(order.id, Decimal(0))
        assert (order.status is OrderStatus.FILLED) == (order.filled_quantity == order.quantity)
    # client_order_id is unique: retries never created a second order.
    client_ids = [o.client_order_id for o in stored_orders.values()]
    assert len(client_ids) == len(set(client_ids))


def _all_orders_query():  # type: ignore[no-untyped-def]
    from tradeforge.ports.persistence import OrderQuery

    return OrderQuery(account_id="main", limit=100_000)
