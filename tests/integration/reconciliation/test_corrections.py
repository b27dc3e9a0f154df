"""Each correction kind in isolation, per venue: the books change, the audit trail and the event say
so, and the venue's gate is REDUCING or HALTED until the books match, ACTIVE after."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from decimal import Decimal

import pytest
from tests.exchange_emulator import Fault, FaultKind, Kind, RequestMatch, Side, Status
from tests.exchange_emulator.orders import NewOrder
from tests.integration.ccxt_adapter.support import (
    ACCOUNT,
    SYMBOL,
    VENUES,
    book_totals,
    emulator,
    emulator_totals,
    run,
    started,
    venue_for,
)

from tradeforge.adapters.ccxt import BreakerConfig, BreakerState
from tradeforge.adapters.memory.store import InMemoryStore
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import Order, OrderStatus, OrderType, TimeInForce
from tradeforge.engine.reconciliation_events import CorrectionKind, DiscrepancyKind
from tradeforge.engine.risk_rules import TradingState
from tradeforge.ports.persistence import UnitOfWorkFactory

from .support import TEST_CONFIG, ReconSystem, reconciled

pytestmark = pytest.mark.timeout(60)

TRADES_PATH = {
    "binance": "/api/v3/myTrades",
    "bybit": "/v5/execution/list",
    "okx": "/api/v5/trade/fills*",
    "kraken": "/0/private/TradesHistory",
}
# A client id each venue takes as it is (okx: letters and digits; kraken: <= 18 lowercase).
LOST_CID = {"binance": "tf-lost-1", "bybit": "tf-lost-1", "okx": "tflost1", "kraken": "tflost1"}


def details(entry_details: str) -> dict[str, object]:
    value = json.loads(entry_details)
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("venue", VENUES)
def test_a_missing_fill_is_booked_and_trading_reduces_until_it_is(
    venue: str, sql_store: UnitOfWorkFactory
) -> None:
    async def scenario() -> None:
        async with emulator(venue) as emu, started(venue_for(emu, venue)) as adapter:
            handle = emu.venue(venue)
            handle.set_price(SYMBOL, "86000")
            system = ReconSystem.build(adapter, sql_store)
            start = await system.reconciler.recover()
            assert start.failed is None and start.corrections == []
            assert system.states() == ["halted", "active"]  # halted until the first run matched

            order = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.02", "80000")
            await system.settle()
            assert order.status is OrderStatus.OPEN
            handle.fill(order.venue_order_id or "", "0.005")  # out of band; nobody polls

            # The venue's trade list cannot be read: the discrepancy stays open, trading reduces.
            emu.faults.inject(
                Fault(FaultKind.SERVER_ERROR, status=503), RequestMatch(path=TRADES_PATH[venue]), 100
            )
            stuck = await system.reconciler.reconcile("periodic")
            assert stuck.failed is not None and order.filled_quantity == 0
            assert system.state() is TradingState.REDUCING
            refused = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "79000")
            assert refused.status is OrderStatus.REJECTED
            assert refused.reject_reason is not None and "reducing only" in refused.reject_reason
            assert f"venue {venue}" in refused.reject_reason

            emu.faults.clear()
            report = await system.reconciler.reconcile("periodic")
            assert report.failed is None and report.discrepancies == []
            assert [c.kind for c in report.corrections] == [CorrectionKind.FILL]
            assert (order.status, order.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, Decimal("0.005"))
            assert system.state() is TradingState.ACTIVE
            assert system.states()[-2:] == ["reducing", "active"]
            venue_fill = handle.state.orders[order.venue_order_id or ""].fills[0]
            assert [f.fill_id for f in system.fills] == [f"{venue}:{venue_fill.trade_id}"]
            assert book_totals(system.portfolio.balances(ACCOUNT)) == emulator_totals(emu, venue)

            event = system.corrections()[-1]
            assert (event.kind, event.target, event.venue) == ("fill", order.id, venue)
            assert (event.before["filled_quantity"], event.after["filled_quantity"]) == ("0", "0.005")
            entry = system.audit("reconciliation.fill")[-1]
            assert (entry.actor, entry.target) == ("reconciler", f"{venue}:{order.id}")
            stored = details(entry.details)
            assert stored["before"] == event.before and stored["after"] == event.after
            states = system.audit("venue.trading_state")
            assert [details(e.details)["state"] for e in states][-2:] == ["reducing", "active"]

            again = await system.reconciler.reconcile("periodic")  # nothing is booked twice
            assert again.corrections == [] and again.discrepancies == []
            assert order.filled_quantity == Decimal("0.005")

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_orders_the_venue_cancelled_or_expired_are_applied(venue: str, sql_store: UnitOfWorkFactory) -> None:
    async def scenario() -> None:
        async with reconciled(venue, sql_store) as (emu, handle, system):
            cancelled = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "80000")
            expired = system.submit(OrderType.LIMIT, OrderSide.SELL, "0.01", "95000")
            await system.settle()
            handle.fill(cancelled.venue_order_id or "", "0.004")
            handle.cancel(cancelled.venue_order_id or "")
            handle.state.cancel_out_of_band(expired.venue_order_id or "", Status.EXPIRED)

            report = await system.reconciler.reconcile("periodic")
            assert report.failed is None and report.discrepancies == []
            # The final status is the venue's as the adapter maps it: ccxt reads bybit's
            # PartiallyFilledCanceled as "closed" (reported expired) and its expiry as cancelled.
            assert cancelled.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED)
            assert cancelled.filled_quantity == Decimal("0.004")
            assert expired.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED)
            kinds = sorted(c.kind.value for c in report.corrections)
            assert kinds == ["fill", "order_status", "order_status"]
            status_events = [e for e in system.corrections() if e.kind == "order_status"]
            assert {(e.target, e.after["status"]) for e in status_events} == {
                (cancelled.id, cancelled.status.value),
                (expired.id, expired.status.value),
            }
            audited = {e.target for e in system.audit("reconciliation.order_status")}
            assert audited == {f"{venue}:{cancelled.id}", f"{venue}:{expired.id}"}
            assert system.states()[-2:] == ["reducing", "active"]
            assert system.state() is TradingState.ACTIVE
            assert book_totals(system.portfolio.balances(ACCOUNT)) == emulator_totals(emu, venue)
            assert system.venue.working_order_ids() == []  # the adapter saw them end too

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_unknown_venue_orders_are_adopted_or_flagged(venue: str, sql_store: UnitOfWorkFactory) -> None:
    async def scenario() -> None:
        async with reconciled(venue, sql_store) as (emu, handle, system):
            # Placed on the venue, unknown to the books: one under our prefix (a create whose
            # order row was lost), one by hand on the exchange's website.
            lost = handle.state.place(
                NewOrder(SYMBOL, Side.BUY, Kind.LIMIT, Decimal("0.02"), Decimal("80000"), LOST_CID[venue])
            )
            manual = handle.state.place(
                NewOrder(SYMBOL, Side.SELL, Kind.LIMIT, Decimal("0.01"), Decimal("99000"), "manual7")
            )
            handle.fill(lost.order_id, "0.005")

            report = await system.reconciler.reconcile("periodic")
            assert report.failed is None
            kinds = [c.kind for c in report.corrections]
            assert kinds == [CorrectionKind.ORDER_ADOPTED, CorrectionKind.ORDER_ACCEPTED, CorrectionKind.FILL]
            adopted = system.oms.get(report.corrections[0].target)
            assert adopted is not None
            assert (adopted.client_order_id, adopted.venue_order_id) == (LOST_CID[venue], lost.order_id)
            assert (adopted.status, adopted.filled_quantity) == (
                OrderStatus.PARTIALLY_FILLED,
                Decimal("0.005"),
            )
            assert (adopted.quantity, adopted.price, adopted.side) == (
                Decimal("0.02"),
                Decimal("80000"),
                OrderSide.BUY,
            )
            assert [(d.kind, d.target) for d in report.discrepancies] == [
                (DiscrepancyKind.FOREIGN_ORDER, manual.order_id)
            ]
            flagged = system.flags()
            assert [(f.kind, f.severity) for f in flagged] == [("foreign_order", "info")]
            assert [e.target for e in system.audit("reconciliation.flagged")] == [
                f"{venue}:{manual.order_id}"
            ]
            assert system.audit("reconciliation.order_adopted")[0].target == f"{venue}:{adopted.id}"
            assert system.state() is TradingState.ACTIVE  # foreign orders are not our books
            assert system.states()[-2:] == ["reducing", "active"]

            assert adopted.id in system.venue.working_order_ids()  # handed to the adapter: it follows it
            handle.fill(lost.order_id)
            await system.settle()
            assert (adopted.status, adopted.filled_quantity) == (OrderStatus.FILLED, Decimal("0.02"))
            assert book_totals(system.portfolio.balances(ACCOUNT)) == emulator_totals(emu, venue)
            quiet = await system.reconciler.reconcile("periodic")
            assert quiet.corrections == [] and len(system.flags()) == 1  # flagged once, not every run

    run(scenario())


def _stored(order_id: str, cid: str, status: OrderStatus, venue: str, venue_order_id: str | None) -> Order:
    """An order as a previous process stored it (what the repositories load at start)."""
    return Order(
        id=order_id,
        client_order_id=cid,
        account_id=ACCOUNT,
        venue=venue,
        symbol=SYMBOL,
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        price=Decimal("80000"),
        stop_price=None,
        time_in_force=TimeInForce.GTC,
        expire_at=None,
        strategy_id=None,
        created_at=1,
        updated_at=1,
        _status=status,
        venue_order_id=venue_order_id,
    )


@pytest.mark.parametrize("venue", VENUES)
def test_at_start_local_only_orders_end_and_live_ones_are_settled_then_followed(
    venue: str, sql_store: UnitOfWorkFactory
) -> None:
    async def scenario() -> None:
        async with emulator(venue) as emu, started(venue_for(emu, venue)) as adapter:
            handle = emu.venue(venue)
            handle.set_price(SYMBOL, "86000")
            rule = adapter.client.capabilities.client_id
            live = handle.state.place(
                NewOrder(
                    SYMBOL, Side.BUY, Kind.LIMIT, Decimal("0.01"), Decimal("80000"), rule.venue_id("tf-live")
                )
            )
            handle.fill(live.order_id, "0.004")  # while the process was down
            system = ReconSystem.build(adapter, sql_store)
            # What the database held: three working orders, one of them really on the venue.
            ghost = _stored("O-ghost", "tf-ghost", OrderStatus.OPEN, venue, "999999")
            unsent = _stored("O-unsent", "tf-unsent", OrderStatus.PENDING, venue, None)
            restored = _stored("O-live", "tf-live", OrderStatus.OPEN, venue, live.order_id)
            for order in (ghost, unsent, restored):
                system.cache.add(order)
            assert system.state() is TradingState.ACTIVE

            report = await system.reconciler.recover()
            assert report.failed is None and report.discrepancies == []
            assert (ghost.status, ghost.reject_reason) == (OrderStatus.CANCELLED, None)
            assert unsent.status is OrderStatus.REJECTED
            assert unsent.reject_reason == f"not on venue {venue} (reconciliation)"
            assert (restored.status, restored.filled_quantity) == (
                OrderStatus.PARTIALLY_FILLED,
                Decimal("0.004"),
            )
            by_target = {(c.target, c.kind) for c in report.corrections}
            assert by_target == {
                ("O-ghost", CorrectionKind.LOCAL_ONLY),
                ("O-unsent", CorrectionKind.LOCAL_ONLY),
                ("O-live", CorrectionKind.FILL),
            }
            local_only = {e.target: details(e.details) for e in system.audit("reconciliation.local_only")}
            assert set(local_only) == {f"{venue}:O-ghost", f"{venue}:O-unsent"}
            assert local_only[f"{venue}:O-ghost"]["after"] == {
                "status": "cancelled",
                "filled_quantity": "0",
                "quantity": "0.01",
                "price": "80000",
            }
            assert system.states() == ["halted", "active"]

            assert adapter.working_order_ids() == ["O-live"]  # handed over after its fill was booked
            handle.fill(live.order_id)
            await system.settle()
            assert (restored.status, restored.filled_quantity) == (OrderStatus.FILLED, Decimal("0.01"))
            assert len(system.fills) == 2  # the adapter reported only the new trade
            assert book_totals(system.portfolio.balances(ACCOUNT)) == emulator_totals(emu, venue)

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_balance_drift_is_booked_through_the_portfolio(venue: str, sql_store: UnitOfWorkFactory) -> None:
    async def scenario() -> None:
        async with reconciled(venue, sql_store) as (emu, handle, system):
            handle.state.balance("USDT").free += Decimal("1234.5")  # a deposit
            handle.state.balance("BTC").free -= Decimal("0.125")  # a withdrawal

            report = await system.reconciler.reconcile("periodic")
            assert report.failed is None and report.balances_checked
            assert [(c.kind, c.target) for c in report.corrections] == [
                (CorrectionKind.BALANCE, "BTC"),
                (CorrectionKind.BALANCE, "USDT"),
            ]
            assert system.portfolio.balance_total(ACCOUNT, "USDT") == Decimal("101234.5")
            assert system.portfolio.balance_total(ACCOUNT, "BTC") == Decimal("1.875")
            assert book_totals(system.portfolio.balances(ACCOUNT)) == emulator_totals(emu, venue)
            entries = {e.target: details(e.details) for e in system.audit("reconciliation.balance")}
            assert entries[f"{venue}:USDT"]["before"] == {"total": "100000"}
            assert entries[f"{venue}:USDT"]["after"] == {"total": "101234.5"}
            assert entries[f"{venue}:BTC"]["after"] == {"total": "1.875"}
            with system.uow_factory() as uow:  # the corrected balances are stored
                stored = {b.asset: b.total for b in uow.balances.list_all()}
            assert stored == {"BTC": Decimal("1.875"), "USDT": Decimal("101234.5")}
            assert system.states()[-2:] == ["reducing", "active"]

    run(scenario())


@pytest.mark.parametrize("venue", ["bybit", "okx", "kraken"])  # binance amends by cancel-replace
def test_an_amend_whose_answer_was_lost_takes_the_venues_values(
    venue: str, sql_store: UnitOfWorkFactory
) -> None:
    async def scenario() -> None:
        async with reconciled(venue, sql_store) as (_, handle, system):
            order = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.02", "80000")
            await system.settle()
            venue_order = handle.state.orders[order.venue_order_id or ""]
            handle.state.amend(venue_order, Decimal("0.03"), Decimal("80100"))  # the amend landed

            report = await system.reconciler.reconcile("periodic")
            assert [c.kind for c in report.corrections] == [CorrectionKind.ORDER_AMENDED]
            assert (order.quantity, order.price, order.status) == (
                Decimal("0.03"),
                Decimal("80100"),
                OrderStatus.OPEN,
            )
            event = system.corrections()[-1]
            assert (event.before["quantity"], event.after["quantity"]) == ("0.02", "0.03")
            assert (event.before["price"], event.after["price"]) == ("80000", "80100")
            assert system.state() is TradingState.ACTIVE

    run(scenario())


def test_an_order_alive_on_the_venue_but_finished_in_the_books_halts_until_acknowledged(
    sql_store: UnitOfWorkFactory,
) -> None:
    venue = "bybit"

    async def scenario() -> None:
        async with emulator(venue) as emu, started(venue_for(emu, venue)) as adapter:
            handle = emu.venue(venue)
            handle.set_price(SYMBOL, "86000")
            system = ReconSystem.build(adapter, sql_store)
            system.cache.add(_stored("O-done", "tf-done", OrderStatus.CANCELLED, venue, None))
            handle.state.place(
                NewOrder(SYMBOL, Side.BUY, Kind.LIMIT, Decimal("0.01"), Decimal("80000"), "tf-done")
            )

            report = await system.reconciler.recover()
            assert [(d.kind, d.target) for d in report.discrepancies] == [
                (DiscrepancyKind.FINISHED_ORDER_ALIVE, "O-done")
            ]
            assert system.state() is TradingState.HALTED
            refused = system.submit(OrderType.LIMIT, OrderSide.SELL, "0.01", "99000")
            assert refused.status is OrderStatus.REJECTED
            assert refused.reject_reason is not None
            assert refused.reject_reason.startswith(f"trading is halted: venue {venue}: unreconciled")
            assert [f.severity for f in system.flags()] == ["halt"]

            again = await system.reconciler.reconcile("periodic")
            assert again.state is TradingState.HALTED and len(system.flags()) == 1
            system.reconciler.acknowledge(
                report.discrepancies[0].key, "admin", "cancelled by hand on the venue"
            )
            cleared = await system.reconciler.reconcile("acknowledged")
            assert cleared.state is TradingState.ACTIVE
            assert system.audit("reconciliation.acknowledge")[0].actor == "admin"
            assert system.states() == ["halted", "active"]

    run(scenario())


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def wait_for_run(system: ReconSystem, trigger: str) -> None:
    """Yield to the loop until the reconciler finished a run started by `trigger` (bounded)."""
    for _ in range(500):
        last = system.reconciler.last_report
        if last is not None and last.trigger == trigger:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {trigger} run; last: {system.reconciler.last_report}")


def test_a_reconnect_starts_a_run_that_corrects_what_the_outage_hid() -> None:
    venue, clock = "okx", Monotonic()

    async def scenario() -> None:
        async with emulator(venue) as emu:
            breaker = BreakerConfig(failure_threshold=2, cool_down_s=30)
            async with started(venue_for(emu, venue, breaker=breaker, monotonic=clock)) as adapter:
                handle = emu.venue(venue)
                handle.set_price(SYMBOL, "86000")
                config = dataclasses.replace(TEST_CONFIG, interval_s=3600)  # only the reconnect runs
                system = ReconSystem.build(adapter, InMemoryStore(), config)
                await system.reconciler.recover()
                order = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.02", "80000")
                await system.settle()
                system.reconciler.start()

                emu.faults.inject(
                    Fault(FaultKind.SERVER_ERROR, status=503), RequestMatch(private_only=True), 50
                )
                await adapter.poll()  # the venue is down: the breaker opens, the venue reduces
                assert adapter.breaker_snapshot().state is BreakerState.OPEN
                assert system.state() is TradingState.REDUCING
                assert system.gate.reason(venue) == "venue unreachable (circuit open)"
                handle.fill(order.venue_order_id or "", "0.01")  # meanwhile, on the venue
                handle.state.balance("USDT").free += Decimal("500")  # and a deposit arrives

                emu.faults.clear()
                clock.now += 30
                await adapter.poll()  # the probe passes: the breaker closes and a run follows
                assert adapter.breaker_snapshot().state is BreakerState.CLOSED
                await wait_for_run(system, "reconnect")
                # The probe's poll followed the order (the fill); the run found the deposit.
                assert order.filled_quantity == Decimal("0.01")
                assert [(c.kind, c.target) for c in system.corrections()] == [("balance", "USDT")]
                assert book_totals(system.portfolio.balances(ACCOUNT)) == emulator_totals(emu, venue)
                assert system.state() is TradingState.ACTIVE
                assert system.states()[-2:] == ["reducing", "active"]
                await system.reconciler.stop()

    run(scenario())


def test_periodic_runs_find_what_polling_has_not_seen_yet() -> None:
    venue = "kraken"

    async def scenario() -> None:
        async with emulator(venue) as emu, started(venue_for(emu, venue)) as adapter:
            handle = emu.venue(venue)
            handle.set_price(SYMBOL, "86000")
            config = dataclasses.replace(TEST_CONFIG, interval_s=0.05)
            system = ReconSystem.build(adapter, InMemoryStore(), config)
            await system.reconciler.recover()
            order = system.submit(OrderType.LIMIT, OrderSide.SELL, "0.01", "95000")
            await system.settle()
            system.reconciler.start()
            handle.cancel(order.venue_order_id or "")
            await wait_for_run(system, "periodic")
            for _ in range(500):
                if order.status is OrderStatus.CANCELLED and system.state() is TradingState.ACTIVE:
                    break
                await asyncio.sleep(0.01)
            assert order.status is OrderStatus.CANCELLED
            assert order.reject_reason is None
            assert [c.kind for c in system.corrections()] == ["order_status"]
            assert system.reconciler.runs >= 2
            await system.reconciler.stop()

    run(scenario())
