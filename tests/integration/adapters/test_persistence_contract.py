"""One contract for the persistence port, run against the in-memory store, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tradeforge.adapters.memory.uow import InMemoryStore
from tradeforge.adapters.sqlalchemy.database import make_engine
from tradeforge.adapters.sqlalchemy.migrate import upgrade
from tradeforge.adapters.sqlalchemy.uow import SqlAlchemyUnitOfWorkFactory
from tradeforge.domain.balances import Balance
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.events import OrderAccepted, OrderFilled
from tradeforge.domain.fills import Fill, Liquidity, OrderSide
from tradeforge.domain.orders import Order, OrderStatus, OrderType, TimeInForce
from tradeforge.domain.positions import Position
from tradeforge.ports.persistence import (
    ApiKeyRecord,
    AuditEntry,
    ChangeSet,
    FillQuery,
    IdempotencyRecord,
    OrderQuery,
    OutboxRecord,
    UnitOfWorkFactory,
    apply_change_set,
)

T0 = 1_700_000_000_000
TRICKY = [
    Decimal("0.00000001"),
    Decimal("123456789.123456789012"),
    Decimal("98765432109876543210.123456789012345678"),
    Decimal("1.10"),
    Decimal("0"),
]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def uow_factory(request: pytest.FixtureRequest) -> Iterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield InMemoryStore()
        return
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    upgrade(url)
    engine = make_engine(url)
    try:
        yield SqlAlchemyUnitOfWorkFactory(engine)
    finally:
        engine.dispose()


def make_order(n: int, **changes: Any) -> Order:
    order = Order(
        id=f"ord-{n:05d}",
        client_order_id=f"coid-{n}",
        account_id="acc-1",
        venue="paper",
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.5"),
        price=Decimal("50000.25"),
        stop_price=None,
        time_in_force=TimeInForce.GTC,
        expire_at=None,
        strategy_id=None,
        created_at=T0 + n,
        updated_at=T0 + n,
    )
    return dataclasses.replace(order, **changes)


def make_fill(n: int, order: Order, **changes: Any) -> Fill:
    fill = Fill(
        fill_id=f"fill-{n:05d}",
        order_id=order.id,
        client_order_id=order.client_order_id,
        account_id=order.account_id,
        venue=order.venue,
        symbol=order.symbol,
        side=order.side,
        quantity=Decimal("0.1"),
        price=Decimal("50000.25"),
        fee=Decimal("0.005000025"),
        fee_asset="USDT",
        liquidity=Liquidity.MAKER,
        ts=T0 + 1000 + n,
        strategy_id=order.strategy_id,
    )
    return dataclasses.replace(fill, **changes)


def state(obj: Any) -> dict[str, Any]:
    """Every field, plus each Decimal's exact digits and exponent (so 1.10 differs from 1.1)."""
    values = dataclasses.asdict(obj)
    return {k: (v, v.as_tuple()) if isinstance(v, Decimal) else v for k, v in values.items()}


def save_orders(factory: UnitOfWorkFactory, orders: list[Order]) -> None:
    with factory() as uow:
        uow.orders.upsert_many(orders)
        uow.commit()


def all_pages(factory: UnitOfWorkFactory, query: OrderQuery) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    with factory() as uow:
        while True:
            page = uow.orders.list(dataclasses.replace(query, cursor=cursor))
            pages.append([order.id for order in page.items])
            if page.next_cursor is None:
                return pages
            assert page.next_cursor == page.items[-1].id
            cursor = page.next_cursor


# --- orders -----------------------------------------------------------------------------------------


def test_order_upsert_get_and_lookup_by_client_order_id(uow_factory: UnitOfWorkFactory) -> None:
    order = make_order(1, strategy_id="grid-1", expire_at=T0 + 60_000, stop_price=Decimal("49000"))
    save_orders(uow_factory, [order])

    with uow_factory() as uow:
        loaded = uow.orders.get(order.id)
        by_client_id = uow.orders.get_by_client_order_id("acc-1", "coid-1")
        assert uow.orders.get("ord-missing") is None
        assert uow.orders.get_by_client_order_id("acc-2", "coid-1") is None

    assert loaded is not None and by_client_id is not None
    assert isinstance(loaded.status, OrderStatus) and isinstance(loaded.side, OrderSide)
    assert state(loaded) == state(order)
    assert state(by_client_id) == state(order)


def test_order_upsert_replaces_the_stored_state(uow_factory: UnitOfWorkFactory) -> None:
    order = make_order(1)
    save_orders(uow_factory, [order])
    order.apply(OrderAccepted(ts=T0 + 10, order_id=order.id, venue_order_id="venue-77"))
    order.apply(OrderFilled(ts=T0 + 20, order_id=order.id, fill=make_fill(1, order)))
    save_orders(uow_factory, [order])

    with uow_factory() as uow:
        loaded = uow.orders.get(order.id)
    assert loaded is not None
    assert loaded.status is OrderStatus.PARTIALLY_FILLED
    assert loaded.venue_order_id == "venue-77"
    assert loaded.filled_quantity == Decimal("0.1") and loaded.version == 2
    assert state(loaded) == state(order)


def test_decimals_round_trip_exactly(uow_factory: UnitOfWorkFactory) -> None:
    orders = [
        make_order(i, quantity=value or Decimal("1"), price=value, filled_notional=value, fees=value)
        for i, value in enumerate(TRICKY)
    ]
    position = Position("acc-1", "BTC/USDT", Decimal("-0.5"), TRICKY[2], TRICKY[1], TRICKY[0], T0)
    balance = Balance("acc-1", "USDT", TRICKY[2], TRICKY[3], T0)
    fill = make_fill(1, orders[0], quantity=TRICKY[0], price=TRICKY[1], fee=TRICKY[2])
    with uow_factory() as uow:
        uow.orders.upsert_many(orders)
        uow.positions.upsert_many([position])
        uow.balances.upsert_many([balance])
        uow.fills.add_many([fill])
        uow.commit()

    with uow_factory() as uow:
        for order in orders:
            loaded = uow.orders.get(order.id)
            assert loaded is not None and state(loaded) == state(order)
        assert [state(p) for p in uow.positions.list_all()] == [state(position)]
        assert [state(b) for b in uow.balances.list_all()] == [state(balance)]
        assert [state(f) for f in uow.fills.list_all()] == [state(fill)]


def test_order_list_filters_and_cursor_pagination(uow_factory: UnitOfWorkFactory) -> None:
    statuses = [OrderStatus.OPEN, OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.PENDING]
    orders = [
        make_order(
            i,
            _status=statuses[i % 4],
            symbol="ETH/USDT" if i % 3 == 0 else "BTC/USDT",
            strategy_id="alpha" if i % 2 == 0 else None,
        )
        for i in range(23)
    ]
    others = [make_order(100 + i, account_id="acc-2") for i in range(5)]
    save_orders(uow_factory, orders + others)
    newest_first = sorted((o for o in orders), key=lambda o: o.id, reverse=True)

    pages = all_pages(uow_factory, OrderQuery("acc-1", limit=5))
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    assert [i for page in pages for i in page] == [o.id for o in newest_first]

    exact = all_pages(uow_factory, OrderQuery("acc-2", limit=5))
    assert exact == [[o.id for o in reversed(others)]]  # exactly one full page: no next cursor

    def expected(keep: Any) -> list[str]:
        return [o.id for o in newest_first if keep(o)]

    done = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED})
    cases = [
        (OrderQuery("acc-1", statuses=done, limit=4), lambda o: o.status in done),
        (OrderQuery("acc-1", symbol="ETH/USDT", limit=3), lambda o: o.symbol == "ETH/USDT"),
        (OrderQuery("acc-1", strategy_id="alpha", limit=4), lambda o: o.strategy_id == "alpha"),
        (
            OrderQuery("acc-1", statuses=frozenset({OrderStatus.OPEN}), symbol="BTC/USDT", limit=2),
            lambda o: o.status is OrderStatus.OPEN and o.symbol == "BTC/USDT",
        ),
        (OrderQuery("acc-1", statuses=frozenset(), limit=10), lambda o: False),
        (OrderQuery("acc-3", limit=10), lambda o: False),
    ]
    for query, keep in cases:
        pages = all_pages(uow_factory, query)
        assert [i for page in pages for i in page] == expected(keep), query
        assert all(0 < len(page) <= query.limit for page in pages[:-1])

    with uow_factory() as uow:
        middle = uow.orders.list(OrderQuery("acc-1", cursor=newest_first[10].id, limit=3))
    assert [o.id for o in middle.items] == [o.id for o in newest_first[11:14]]
    assert middle.next_cursor == newest_first[13].id


def test_list_working_spans_accounts(uow_factory: UnitOfWorkFactory) -> None:
    orders = [
        make_order(1, _status=OrderStatus.PENDING),
        make_order(2, _status=OrderStatus.FILLED),
        make_order(3, account_id="acc-2", _status=OrderStatus.PARTIALLY_FILLED),
        make_order(4, account_id="acc-2", _status=OrderStatus.REJECTED, reject_reason="risk: max notional"),
        make_order(5, _status=OrderStatus.OPEN),
        make_order(6, _status=OrderStatus.EXPIRED),
    ]
    save_orders(uow_factory, orders)
    with uow_factory() as uow:
        working = uow.orders.list_working()
        index = uow.orders.client_order_index()
    assert [o.id for o in working] == ["ord-00001", "ord-00003", "ord-00005"]
    assert all(o.is_working for o in working)
    assert sorted(index) == sorted((o.account_id, o.client_order_id, o.id) for o in orders)


def test_duplicate_client_order_id_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    first = make_order(1, client_order_id="mine")
    save_orders(uow_factory, [first, make_order(2, client_order_id="mine", account_id="acc-2")])

    with uow_factory() as uow, pytest.raises(ValidationError) as refused:
        uow.orders.upsert_many([make_order(3, client_order_id="mine")])
    assert refused.value.field == "client_order_id"

    with uow_factory() as uow, pytest.raises(ValidationError) as in_batch:
        uow.orders.upsert_many([make_order(4, client_order_id="twin"), make_order(5, client_order_id="twin")])
    assert in_batch.value.field == "client_order_id"

    first.apply(OrderAccepted(ts=T0 + 5, order_id=first.id, venue_order_id="v-1"))
    save_orders(uow_factory, [first])  # the same order again is an update, not a duplicate
    with uow_factory() as uow:
        for missing in ("ord-00003", "ord-00004", "ord-00005"):
            assert uow.orders.get(missing) is None
        stored = uow.orders.get_by_client_order_id("acc-1", "mine")
        assert stored is not None and stored.id == first.id and stored.status is OrderStatus.OPEN
        other = uow.orders.get_by_client_order_id("acc-2", "mine")
        assert other is not None and other.id == "ord-00002"


def test_list_limit_must_be_positive(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        for call in (
            lambda: uow.orders.list(OrderQuery("acc-1", limit=0)),
            lambda: uow.fills.list(FillQuery("acc-1", limit=0)),
            lambda: uow.audit.list(None, 0),
            lambda: uow.outbox.list_unpublished(0),
        ):
            with pytest.raises(ValidationError) as refused:
                call()
            assert refused.value.field == "limit"


# --- fills, positions, balances -----------------------------------------------------------------------


def test_fills_add_filter_and_paginate(uow_factory: UnitOfWorkFactory) -> None:
    btc, eth, other = make_order(1), make_order(2, symbol="ETH/USDT"), make_order(3, account_id="acc-2")
    fills = [make_fill(i, btc if i % 2 else eth, ts=T0 + 100 - i) for i in range(11)]
    fills.append(make_fill(50, other))
    with uow_factory() as uow:
        uow.fills.add_many(fills)
        uow.commit()

    newest_first = sorted(
        (f for f in fills if f.account_id == "acc-1"), key=lambda f: f.fill_id, reverse=True
    )
    with uow_factory() as uow:
        seen: list[str] = []
        cursor: str | None = None
        for expected_size in (4, 4, 3):
            page = uow.fills.list(FillQuery("acc-1", cursor=cursor, limit=4))
            assert len(page.items) == expected_size
            seen += [f.fill_id for f in page.items]
            cursor = page.next_cursor
        assert cursor is None
        assert seen == [f.fill_id for f in newest_first]

        by_symbol = uow.fills.list(FillQuery("acc-1", symbol="ETH/USDT"))
        assert [f.fill_id for f in by_symbol.items] == [
            f.fill_id for f in newest_first if f.order_id == eth.id
        ]
        by_order = uow.fills.list(FillQuery("acc-1", order_id=btc.id, limit=100))
        assert {f.order_id for f in by_order.items} == {btc.id} and len(by_order.items) == 5
        assert by_order.next_cursor is None

        everything = uow.fills.list_all()
        assert [f.fill_id for f in everything] == [f.fill_id for f in sorted(fills, key=lambda f: f.ts)]
        assert all(isinstance(f, Fill) and isinstance(f.liquidity, Liquidity) for f in everything)


def test_duplicate_fill_id_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    order = make_order(1)
    with uow_factory() as uow:
        uow.fills.add_many([make_fill(1, order)])
        uow.commit()
    with uow_factory() as uow, pytest.raises(ValidationError) as refused:
        uow.fills.add_many([make_fill(2, order), make_fill(1, order, quantity=Decimal("9"))])
    assert refused.value.field == "fill_id"
    with uow_factory() as uow:
        assert [(f.fill_id, f.quantity) for f in uow.fills.list_all()] == [("fill-00001", Decimal("0.1"))]


def test_positions_and_balances_upsert(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.positions.upsert_many(
            [Position("acc-1", "ETH/USDT"), Position("acc-1", "BTC/USDT", Decimal("1"))]
        )
        uow.balances.upsert_many([Balance("acc-1", "USDT", Decimal("1000")), Balance("acc-1", "BTC")])
        uow.commit()
    with uow_factory() as uow:
        uow.positions.upsert_many(
            [Position("acc-1", "BTC/USDT", Decimal("0.25"), Decimal("12500"), updated_at=T0)]
        )
        uow.balances.upsert_many([Balance("acc-1", "USDT", Decimal("987.5"), Decimal("12.5"), T0)])
        uow.commit()

    with uow_factory() as uow:
        positions = uow.positions.list_all()
        balances = uow.balances.list_all()
    assert [(p.symbol, p.quantity, p.cost_basis, p.updated_at) for p in positions] == [
        ("BTC/USDT", Decimal("0.25"), Decimal("12500"), T0),
        ("ETH/USDT", Decimal("0"), Decimal("0"), 0),
    ]
    assert [(b.asset, b.total, b.locked, b.free) for b in balances] == [
        ("BTC", Decimal("0"), Decimal("0"), Decimal("0")),
        ("USDT", Decimal("987.5"), Decimal("12.5"), Decimal("975.0")),
    ]


# --- outbox, audit, API keys, idempotency, settings ---------------------------------------------------


def test_outbox_lists_unpublished_in_id_order(uow_factory: UnitOfWorkFactory) -> None:
    records = [
        OutboxRecord(f"evt-{i:03d}", T0 + i, "orders", "OrderAccepted", f'{{"n": {i}}}') for i in range(6)
    ]
    with uow_factory() as uow:
        uow.outbox.add_many(list(reversed(records)))
        uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.list_unpublished(4) == records[:4]
        uow.outbox.mark_published(["evt-000", "evt-002", "evt-unknown"])
        uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.list_unpublished(10) == [records[1], records[3], records[4], records[5]]
        uow.outbox.mark_published(["evt-001", "evt-003", "evt-004", "evt-005"])
        uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.list_unpublished(10) == []


def test_audit_list_pages_and_filters_by_action(uow_factory: UnitOfWorkFactory) -> None:
    entries = [
        AuditEntry(
            f"aud-{i:03d}", T0 + i, "admin", "order.cancel" if i % 3 == 0 else "key.create", f"t{i}", "{}"
        )
        for i in range(10)
    ]
    with uow_factory() as uow:
        uow.audit.add_many(entries)
        uow.commit()
    with uow_factory() as uow:
        first = uow.audit.list(None, 4)
        second = uow.audit.list(first.next_cursor, 4)
        third = uow.audit.list(second.next_cursor, 4)
        cancels = uow.audit.list(None, 10, action="order.cancel")
    newest_first = list(reversed(entries))
    assert first.items + second.items + third.items == newest_first
    assert first.next_cursor == "aud-006" and third.next_cursor is None
    assert cancels.items == [e for e in newest_first if e.action == "order.cancel"]
    assert cancels.next_cursor is None


def test_api_keys_add_lookup_revoke(uow_factory: UnitOfWorkFactory) -> None:
    admin = ApiKeyRecord("key-1", "ops", "admin", "acc-1", "a" * 64, T0)
    viewer = ApiKeyRecord("key-2", "dashboard", "viewer", "acc-1", "b" * 64, T0 + 1)
    with uow_factory() as uow:
        uow.api_keys.add(admin)
        uow.api_keys.add(viewer)
        uow.commit()
    with uow_factory() as uow, pytest.raises(ValidationError) as refused:
        uow.api_keys.add(ApiKeyRecord("key-3", "copy", "trader", "acc-1", "a" * 64, T0 + 2))
    assert refused.value.field == "key_hash"

    with uow_factory() as uow:
        assert uow.api_keys.get_by_hash("b" * 64) == viewer
        assert uow.api_keys.get_by_hash("c" * 64) is None
        assert uow.api_keys.revoke("key-1", T0 + 50) is True
        assert uow.api_keys.revoke("key-1", T0 + 99) is False
        assert uow.api_keys.revoke("key-missing", T0 + 99) is False
        uow.commit()
    with uow_factory() as uow:
        assert uow.api_keys.get("key-1") == dataclasses.replace(admin, revoked_at=T0 + 50)
        assert uow.api_keys.get("key-3") is None
        assert uow.api_keys.list_all() == [dataclasses.replace(admin, revoked_at=T0 + 50), viewer]


def test_idempotency_keeps_the_first_record(uow_factory: UnitOfWorkFactory) -> None:
    first = IdempotencyRecord("acc-1", "retry-1", "fp-1", 201, '{"id": "ord-1"}', T0)
    with uow_factory() as uow:
        assert uow.idempotency.get("acc-1", "retry-1") is None
        uow.idempotency.add_many([first, dataclasses.replace(first, body='{"id": "in-batch"}')])
        uow.commit()
    with uow_factory() as uow:
        uow.idempotency.add_many(
            [
                dataclasses.replace(first, fingerprint="fp-2", body="{}"),
                dataclasses.replace(first, account_id="acc-2"),
            ]
        )
        uow.commit()
    with uow_factory() as uow:
        assert uow.idempotency.get("acc-1", "retry-1") == first
        assert uow.idempotency.get("acc-2", "retry-1") == dataclasses.replace(first, account_id="acc-2")


def test_settings_put_and_get(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.settings.get("risk.state") is None
        uow.settings.put_many({"risk.state": '{"state": "ACTIVE"}', "risk.limits": "{}"})
        uow.commit()
    with uow_factory() as uow:
        uow.settings.put_many({"risk.state": '{"state": "HALTED"}'})
        uow.commit()
    with uow_factory() as uow:
        assert uow.settings.get("risk.state") == '{"state": "HALTED"}'
        assert uow.settings.get("risk.limits") == "{}"


# --- transactions -------------------------------------------------------------------------------------


def test_exception_inside_the_block_rolls_everything_back(uow_factory: UnitOfWorkFactory) -> None:
    with pytest.raises(RuntimeError, match="boom"), uow_factory() as uow:
        uow.orders.upsert_many([make_order(1)])
        uow.settings.put_many({"k": "v"})
        uow.outbox.add_many([OutboxRecord("evt-1", T0, "orders", "OrderSubmitted", "{}")])
        raise RuntimeError("boom")
    with uow_factory() as uow:
        uow.orders.upsert_many([make_order(2)])  # left without commit
    with uow_factory() as uow:
        uow.orders.upsert_many([make_order(3)])
        uow.rollback()
        uow.settings.put_many({"after": "rollback"})
        uow.commit()
    with uow_factory() as uow:
        assert [uow.orders.get(f"ord-0000{i}") for i in (1, 2, 3)] == [None, None, None]
        assert uow.settings.get("k") is None and uow.outbox.list_unpublished(10) == []
        assert uow.settings.get("after") == "rollback"


def test_changes_are_private_until_commit_and_visible_to_their_own_unit(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with uow_factory() as writer:
        writer.orders.upsert_many([make_order(1)])
        own = writer.orders.list(OrderQuery("acc-1"))
        assert [o.id for o in own.items] == ["ord-00001"]
        with uow_factory() as reader:
            assert reader.orders.get("ord-00001") is None
        writer.commit()
        writer.settings.put_many({"second": "commit"})  # the unit stays usable after commit
        writer.commit()
    with uow_factory() as reader:
        assert reader.orders.get("ord-00001") is not None
        assert reader.settings.get("second") == "commit"


def test_stored_objects_are_independent_of_callers(uow_factory: UnitOfWorkFactory) -> None:
    order = make_order(1)
    position = Position("acc-1", "BTC/USDT", Decimal("1"))
    with uow_factory() as uow:
        uow.orders.upsert_many([order])
        uow.positions.upsert_many([position])
        order.apply(OrderAccepted(ts=T0 + 1, order_id=order.id, venue_order_id="v"))
        position.quantity = Decimal("7")
        uow.commit()
    with uow_factory() as uow:
        loaded = uow.orders.get(order.id)
        assert loaded is not None and loaded.status is OrderStatus.PENDING
        loaded.apply(OrderAccepted(ts=T0 + 2, order_id=order.id, venue_order_id="v"))
        uow.positions.list_all()[0].quantity = Decimal("9")
        reloaded = uow.orders.get(order.id)
        assert reloaded is not None and reloaded.status is OrderStatus.PENDING
        assert uow.positions.list_all()[0].quantity == Decimal("1")


def test_apply_change_set_writes_everything_in_one_commit(uow_factory: UnitOfWorkFactory) -> None:
    order = make_order(1)
    fill = make_fill(1, order)
    changes = ChangeSet(
        orders={order.id: order},
        fills=[fill],
        positions={("acc-1", "BTC/USDT"): Position("acc-1", "BTC/USDT", Decimal("0.1"), Decimal("5000.025"))},
        balances={("acc-1", "USDT"): Balance("acc-1", "USDT", Decimal("94999.969999975"))},
        outbox=[OutboxRecord("evt-1", T0, "orders", "OrderFilled", '{"order_id": "ord-00001"}')],
        audit=[AuditEntry("aud-1", T0, "api", "order.submit", order.id, "{}")],
        idempotency=[IdempotencyRecord("acc-1", "idem-1", "fp", 201, "{}", T0)],
        settings={"risk.state": "ACTIVE"},
    )
    with uow_factory() as uow:
        apply_change_set(uow, changes)
        uow.commit()

    with uow_factory() as uow:
        loaded = uow.orders.get(order.id)
        assert loaded is not None and state(loaded) == state(order)
        assert uow.fills.list_all() == [fill]
        assert [state(p) for p in uow.positions.list_all()] == [state(p) for p in changes.positions.values()]
        assert [state(b) for b in uow.balances.list_all()] == [state(b) for b in changes.balances.values()]
        assert uow.outbox.list_unpublished(10) == changes.outbox
        assert uow.audit.list(None, 10).items == changes.audit
        assert uow.idempotency.get("acc-1", "idem-1") == changes.idempotency[0]
        assert uow.settings.get("risk.state") == "ACTIVE"
