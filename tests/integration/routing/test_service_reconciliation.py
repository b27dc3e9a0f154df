"""Reconciliation inside the service (build()): start runs, corrections from the venue, the gate, accounts."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
from tests.exchange_emulator import Emulator, Fault, FaultKind, RequestMatch

from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderStatus
from tradeforge.engine.reconciliation import Reconciler
from tradeforge.runtime.venues import can_trade, venue_health

from .support import LiveSystem, live_system, set_price, venue_settings

pytestmark = pytest.mark.timeout(90)
QUIET = {"poll_interval_ms": 3_600_000}  # the adapter never polls: only the reconciler sees the venue


def run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def reconciler(live: LiveSystem, name: str) -> Reconciler:
    reconciliation = live.system.reconciliation
    assert reconciliation is not None
    return reconciliation.reconcilers[name]


def venue_totals(live: LiveSystem, name: str) -> dict[str, Decimal]:
    state = live.emulated(name).state
    return {asset: b.total for asset, b in state.balances.items() if b.total}


def booked_totals(live: LiveSystem, account: str) -> dict[str, Decimal]:
    return {b.asset: b.total for b in live.system.portfolio.balances(account) if b.total}


def audit_actions(live: LiveSystem) -> list[str]:
    with live.system.uow_factory() as uow:
        return [entry.action for entry in uow.audit.list(None, 500).items]


def test_a_venue_alone_in_its_account_books_the_venues_balances_at_start_and_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No paper starting balances: the start run books what binance holds, each asset audited as a
    balance correction; a later deposit on the venue is found by the next run."""

    async def scenario() -> None:
        async with live_system(tmp_path, monkeypatch, venue_settings("binance")) as live:
            status = live.system.reconciliation.status()  # type: ignore[union-attr]
            assert [(s["venue"], s["account_id"], s["trading"], s["compares_balances"]) for s in status] == [
                ("binance", "main", "active", True)
            ]
            report = status[0]["last_report"]
            assert report["trigger"] == "start" and report["balances_checked"]
            assert {c["kind"] for c in report["corrections"]} == {"balance"}
            assert booked_totals(live, "main") == venue_totals(live, "binance")
            assert "balance.deposit" not in audit_actions(live)  # the paper starting balances

            await live.settle()  # the gate's change is in memory first, in the database once committed
            assert trading_states(live) == ["halted", "active"]

            before = booked_totals(live, "main")["USDT"]
            live.emulated("binance").state.transfer("USDT", Decimal("1234.5"))
            report = await reconciler(live, "binance").reconcile("manual")
            assert [(c.kind.value, c.target) for c in report.corrections] == [("balance", "USDT")]
            assert booked_totals(live, "main")["USDT"] == before + Decimal("1234.5")
            assert booked_totals(live, "main") == venue_totals(live, "binance")
            assert live.trading("binance") == "active"

    run(scenario())


def test_a_fill_the_adapter_missed_is_booked_by_the_next_run_and_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        async with live_system(tmp_path, monkeypatch, venue_settings("binance", **QUIET)) as live:
            set_price(live.emulated("binance"), "80000")
            order = live.submit(OrderSide.BUY, "0.01", price=Decimal("70000"), venue="binance")
            await live.settle()
            await live.tick_until(lambda: order.status is OrderStatus.OPEN, "the order to rest")
            placed = live.emulated("binance").order(client_order_id=order.client_order_id)
            assert placed is not None
            live.emulated("binance").state.fill(placed.order_id)  # out of band: nobody is told

            report = await reconciler(live, "binance").reconcile("manual")
            await live.settle()
            assert order.status is OrderStatus.FILLED and order.filled_quantity == Decimal("0.01")
            # the venue's trade, booked through the transition table, also finishes the order
            assert [c.kind.value for c in report.corrections] == ["fill"]
            assert report.state.value == "active" and report.balances_checked
            assert booked_totals(live, "main") == venue_totals(live, "binance")
            actions = audit_actions(live)
            assert actions.count("reconciliation.fill") == 1
            # a second run finds nothing more to do
            again = await reconciler(live, "binance").reconcile("manual")
            assert again.corrections == [] and again.discrepancies == []

    run(scenario())


def test_a_venue_down_at_start_stays_halted_until_it_is_up_and_reconciled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def okx_down(emu: Emulator) -> None:
        emu.faults.inject(
            Fault(FaultKind.SERVER_ERROR, status=503), RequestMatch(venue="okx:sandbox"), times=10**6
        )

    async def scenario() -> None:
        venues = (
            venue_settings("binance", account_id="spot-b"),
            venue_settings("okx", account_id="spot-o", start_retry_s=0.2),
        )
        async with live_system(tmp_path, monkeypatch, *venues, before_build=okx_down) as live:
            assert live.trading("okx") == "halted"
            assert live.system.reconciliation.gate.reason("okx") == "not connected; reconciles when up"  # type: ignore[union-attr]
            health = {h.name: h for h in venue_health(live.system)}
            assert health["okx"].trading == "halted" and health["binance"].trading == "active"
            assert can_trade(list(health.values()))

            live.emu.faults.clear()
            await live.tick_until(lambda: live.trading("okx") == "active", "okx reconciled once up")
            report = reconciler(live, "okx").last_report
            assert report is not None and report.trigger == "start"
            assert booked_totals(live, "spot-o") == venue_totals(live, "okx")
            assert booked_totals(live, "spot-b") == venue_totals(live, "binance")

    run(scenario())


def test_orders_stay_in_their_account_and_live_accounts_do_not_paper_trade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """binance books account main, okx its own: main's orders route to binance only (okx quotes
    better), okx refuses main's orders, the paper venue refuses main's and takes another account's."""

    async def scenario() -> None:
        venues = (venue_settings("binance"), venue_settings("okx", account_id="okx-acct"))
        async with live_system(tmp_path, monkeypatch, *venues) as live:
            set_price(live.emulated("binance"), "80000")
            set_price(live.emulated("okx"), "79000")
            routed = live.submit(OrderSide.BUY, "0.01", price=Decimal("81000"))
            assert routed.venue == "binance"
            own = live.submit(OrderSide.BUY, "0.01", price=Decimal("81000"), account_id="okx-acct")
            assert own.venue == "okx"

            wrong = live.submit(OrderSide.BUY, "0.01", venue="okx")
            assert wrong.status is OrderStatus.REJECTED
            assert wrong.reject_reason == "venue okx books account okx-acct, not main"
            paper = live.submit(OrderSide.BUY, "0.01", venue="paper")
            assert paper.status is OrderStatus.REJECTED
            assert paper.reject_reason == (
                "account main trades on live venues (binance); "
                "venue paper takes orders of other accounts only"
            )
            # an account no live venue books into trades on the paper venue, routed or named
            other = live.submit(OrderSide.BUY, "0.01", account_id="research")
            assert other.venue == "paper" and "live venues" not in (other.reject_reason or "")

    run(scenario())


def test_venues_sharing_an_account_compare_orders_and_fills_but_not_balances(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        venues = (venue_settings("binance"), venue_settings("okx"))
        async with live_system(tmp_path, monkeypatch, *venues) as live:
            status = {s["venue"]: s for s in live.system.reconciliation.status()}  # type: ignore[union-attr]
            assert {v: s["compares_balances"] for v, s in status.items()} == {"binance": False, "okx": False}
            assert not status["binance"]["last_report"]["balances_checked"]
            # the account's balances are no single venue's: the configured starting balances stand
            assert booked_totals(live, "main")["USDT"] == Decimal("100000")
            assert "balance.deposit" in audit_actions(live)

    run(scenario())


def trading_states(live: LiveSystem) -> list[str]:
    """The venue.trading_state audit entries' states, oldest first."""
    with live.system.uow_factory() as uow:
        entries = uow.audit.list(None, 500, "venue.trading_state").items
    return [json.loads(entry.details)["state"] for entry in sorted(entries, key=lambda e: (e.ts, e.id))]
