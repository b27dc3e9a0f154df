"""Flows through the assembled system: ticks fill resting orders, the timer expires GTD orders
without market data, and a restart on the same database carries on where it stopped."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tradeforge.adapters.clocks import SimulatedClock
from tradeforge.adapters.memory.uow import InMemoryStore
from tradeforge.domain.commands import SubmitOrder
from tradeforge.domain.data import Bar, Tick
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderStatus, OrderType, TimeInForce
from tradeforge.runtime.bootstrap import Mode, build
from tradeforge.runtime.settings import Settings

T0 = 1_740_787_200_000
SETTINGS = Settings(feeds=(), starting_balances={"USDT": Decimal("100000"), "BTC": Decimal("1")})


def _bar(ts: int, close: str) -> Bar:
    price = Decimal(close)
    return Bar("BTC/USDT", "1m", ts, price, price, price, price, Decimal("10"))


def _limit_buy(client_id: str, price: str, **extra: object) -> SubmitOrder:
    return SubmitOrder(
        account_id="main",
        client_order_id=client_id,
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.1"),
        price=Decimal(price),
        **extra,  # type: ignore[arg-type]
    )


def test_a_tick_trading_through_a_resting_limit_fills_it_at_the_limit() -> None:
    clock = SimulatedClock(T0)
    system = build(SETTINGS, Mode.SYNC, clock=clock, uow_factory=InMemoryStore())
    system.process_bar(_bar(T0, "84000"))
    order, _ = system.send(_limit_buy("t1", "83000"))
    assert order.status is OrderStatus.OPEN
    clock.set(T0 + 1_000)
    system.process_tick(Tick("BTC/USDT", T0 + 1_000, Decimal("83000"), Decimal("1")))  # touch only
    assert order.status is OrderStatus.OPEN
    system.process_tick(Tick("BTC/USDT", T0 + 2_000, Decimal("82990.5"), Decimal("0.04")))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.filled_quantity == Decimal("0.04") and order.average_price == Decimal("83000")
    system.process_tick(Tick("BTC/USDT", T0 + 3_000, Decimal("82980"), Decimal("5")))
    assert order.status is OrderStatus.FILLED
    assert system.portfolio.position_quantity("main", "BTC/USDT") == Decimal("1.1") - Decimal("1")
    assert system.portfolio.last_price("BTC/USDT") == Decimal("82980")
    assert system.data_engine.on_tick(Tick("BTC/USDT", T0, Decimal("1"), Decimal("1"))) is False  # stale


def test_the_timer_expires_gtd_orders_without_market_data() -> None:
    clock = SimulatedClock(T0)
    system = build(SETTINGS, Mode.SYNC, clock=clock, uow_factory=InMemoryStore())
    system.process_bar(_bar(T0, "84000"))
    order, _ = system.send(_limit_buy("g1", "80000", time_in_force=TimeInForce.GTD, expire_at=T0 + 60_000))
    clock.set(T0 + 59_999)
    system.on_timer()
    assert order.status is OrderStatus.OPEN
    clock.set(T0 + 60_000)
    system.on_timer()
    assert order.status is OrderStatus.EXPIRED
    with system.uow_factory() as uow:
        stored = uow.orders.get(order.id)
    assert stored is not None and stored.status is OrderStatus.EXPIRED
    assert system.portfolio.available_balance("main", "USDT") == Decimal("100000")


def test_a_restart_reloads_orders_positions_balances_and_keeps_matching(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'tf.db'}",
        var_dir=tmp_path,
        feeds=(),
        starting_balances={"USDT": Decimal("100000")},
    )
    clock = SimulatedClock(T0)
    first = build(settings, Mode.SYNC, clock=clock)
    first.process_bar(_bar(T0, "84000"))
    market, _ = first.send(
        SubmitOrder("main", "m1", "BTC/USDT", OrderSide.BUY, OrderType.MARKET, Decimal("0.5"))
    )
    resting, _ = first.send(_limit_buy("r1", "83000"))
    assert market.status is OrderStatus.FILLED and resting.status is OrderStatus.OPEN
    first.close()

    second = build(settings, Mode.SYNC, clock=clock)
    assert second.portfolio.position_quantity("main", "BTC/USDT") == Decimal("0.5")
    assert second.portfolio.balance_total("main", "USDT") == Decimal("100000") - Decimal("42000") - Decimal(
        "42"
    )
    # No second deposit of the starting balances into a non-empty book.
    assert {b.asset for b in second.portfolio.balances("main")} == {"BTC", "USDT"}
    reloaded = second.cache.working(resting.id)
    assert reloaded is not None and reloaded.status is OrderStatus.OPEN
    # The same client_order_id after the restart answers the stored order, creating nothing.
    again, _ = second.send(_limit_buy("r1", "83000"))
    assert again.id == resting.id
    clock.set(T0 + 60_000)
    second.process_bar(
        Bar(
            "BTC/USDT",
            "1m",
            T0 + 60_000,
            *(Decimal(p) for p in ("83500", "83600", "82900", "83100")),
            Decimal("10"),
        )
    )
    assert reloaded.status is OrderStatus.FILLED
    venue_totals = {b.asset: b.total for b in second.venues["paper"].balances("main")}
    assert venue_totals["BTC"] == second.portfolio.balance_total("main", "BTC") == Decimal("0.6")
    second.close()


def test_a_client_order_id_reused_with_other_terms_is_a_conflict_and_creates_nothing() -> None:
    import pytest

    from tradeforge.engine.order_manager import ClientOrderIdConflict

    clock = SimulatedClock(T0)
    system = build(SETTINGS, Mode.SYNC, clock=clock, uow_factory=InMemoryStore())
    system.process_bar(_bar(T0, "84000"))
    first, _ = system.send(_limit_buy("c1", "83000"))
    same, _ = system.send(_limit_buy("c1", "83000"))
    assert same is first
    for other in (
        _limit_buy("c1", "83000", time_in_force=TimeInForce.IOC),
        _limit_buy("c1", "83000", strategy_id="s1"),
        _limit_buy("c1", "83000", time_in_force=TimeInForce.GTD, expire_at=T0 + 60_000),
        _limit_buy("c1", "82000"),
    ):
        with pytest.raises(ClientOrderIdConflict):
            system.send(other)
    assert len(system.cache.all_working()) == 1


class _FailingWrites:
    """A unit-of-work port whose writes fail (a disk that filled up), wrapping a real store."""

    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self.failing = False

    def __call__(self):  # type: ignore[no-untyped-def]
        uow = self.store()
        if self.failing:

            def refuse(_changes: object) -> None:
                raise OSError("disk full")

            uow.write = refuse  # type: ignore[method-assign]
        return uow


def test_a_failed_commit_halts_trading_until_restart() -> None:
    import pytest

    from tradeforge.engine.risk_rules import TradingState

    clock = SimulatedClock(T0)
    factory = _FailingWrites(InMemoryStore())
    system = build(SETTINGS, Mode.SYNC, clock=clock, uow_factory=factory)
    system.process_bar(_bar(T0, "84000"))
    factory.failing = True
    with pytest.raises(OSError, match="disk full"):
        system.send(_limit_buy("f1", "83000"))
    assert system.risk.state is TradingState.HALTED
    assert "storage failure" in system.risk.state_reason
    factory.failing = False
    refused, _ = system.send(_limit_buy("f2", "83000"))
    assert refused.status is OrderStatus.REJECTED
    assert refused.reject_reason is not None and "storage failure" in refused.reject_reason
