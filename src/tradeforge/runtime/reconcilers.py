"""Reconciliation in the service: a Reconciler per live venue, their gate on the OMS, whose account is whose.

The composition root builds one `ServiceReconciliation` when live venues are configured. It

* owns the `VenueGate` the OMS consults before routing an order or an amend (`check`), together with
  the accounts rule: a live venue books into one account (`venues[].account_id`, default
  `account_id`), so its orders must be that account's, and an account a live venue books into does
  not also trade on the paper venue (simulated fills would move real books);
* attaches a `Reconciler` to every live venue (between the adapter and the OMS), halts each venue
  until its start run ends clean, and starts that run as soon as the venue is connected — at start,
  or later when a venue that was down comes up; then the reconciler runs periodically and after
  every reconnect (its breaker) on its own;
* compares balances and positions only for a venue that is alone in its account: with several
  venues in one account, the account's balances are no single venue's.

Everything but `begin` (called once from the building thread, before the service serves) runs on
the engine loop. See docs/reconciliation.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tradeforge.domain.commands import SubmitOrder
from tradeforge.domain.fills import Fill
from tradeforge.domain.orders import Order
from tradeforge.engine.reconciliation import Reconciler, ReconcilerConfig
from tradeforge.engine.reconciliation_report import ReconciliationReport, VenueGate
from tradeforge.engine.recorder import UnitRecorder
from tradeforge.engine.risk_rules import TradingState
from tradeforge.ports.persistence import FillQuery
from tradeforge.runtime.venue_settings import ReconciliationSettings
from tradeforge.runtime.venues import run_on_loop

if TYPE_CHECKING:
    from tradeforge.runtime.settings import Settings
    from tradeforge.runtime.system import TradingSystem
    from tradeforge.runtime.venues import LiveVenue

logger = logging.getLogger(__name__)

_FILL_PAGE = 1000
STOP_TIMEOUT_S = 10.0


class ServiceReconciliation:
    """The live venues' gate and reconcilers (see the module docstring)."""

    def __init__(self, settings: Settings, live: Sequence[LiveVenue], gate: VenueGate) -> None:
        self.settings: ReconciliationSettings = settings.reconciliation
        self.gate = gate
        self.accounts = {venue.name: venue.venue.account_id for venue in live}
        self._by_account: dict[str, list[str]] = {}
        for name, account in self.accounts.items():
            self._by_account.setdefault(account, []).append(name)
        self._live = {venue.name: venue for venue in live}
        self.reconcilers: dict[str, Reconciler] = {}
        self._started: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._system: TradingSystem | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def venue_owned_accounts(self) -> frozenset[str]:
        """Accounts whose balances a reconciler books from their venue (a venue alone in its
        account): paper starting balances are never deposited into them."""
        if not self.settings.enabled:
            return frozenset()
        return frozenset(a for a, names in self._by_account.items() if len(names) == 1)

    def exclusive(self, venue: str) -> bool:
        """The venue is alone in its account: its balances and positions are the account's."""
        return len(self._by_account[self.accounts[venue]]) == 1

    # --- the OMS hook ------------------------------------------------------------------------------
    def check(self, order: Order) -> str | None:
        """Why this order may not go to its venue now (accounts rule, then the venue's state), or None."""
        account = self.accounts.get(order.venue)
        if account is None:
            if order.account_id in self._by_account:
                live = ", ".join(self._by_account[order.account_id])
                return (
                    f"account {order.account_id} trades on live venues ({live}); "
                    f"venue {order.venue} takes orders of other accounts only"
                )
            return None
        if order.account_id != account:
            return f"venue {order.venue} books account {account}, not {order.account_id}"
        return self.gate.check(order)

    def admits(self, venue: str, command: SubmitOrder) -> str | None:
        """For the router: why the venue's trading state refuses this command now, or None (a
        reducing venue stays a candidate for orders that shrink the position)."""
        if self.gate.state(venue) is TradingState.ACTIVE:
            return None
        probe = Order(
            "route-probe",
            command.client_order_id,
            command.account_id,
            venue,
            command.symbol,
            command.side,
            command.type,
            command.quantity,
            command.price,
            command.stop_price,
            command.time_in_force,
            command.expire_at,
            command.strategy_id,
            0,
            0,
        )
        return self.gate.check(probe)

    # --- wiring -----------------------------------------------------------------------------------
    def attach(self, system: TradingSystem, loop: asyncio.AbstractEventLoop) -> None:
        """After the OMS bound the venues: put a reconciler between each venue and the OMS."""
        self._system, self._loop = system, loop
        if not isinstance(system.recorder, UnitRecorder):
            raise TypeError("reconciliation needs a storing recorder")
        if not self.settings.enabled:
            logger.warning("reconciliation is off: live venues trade on their adapters' polling alone")
            return
        for name, live in self._live.items():
            config = ReconcilerConfig(
                interval_s=self.settings.interval_s,
                retry_interval_s=self.settings.retry_interval_s,
                adopt_prefixes=self.settings.adopt_prefixes,
                start_lookback_ms=int(self.settings.start_lookback_s * 1000),
                check_positions=self.exclusive(name),
                check_balances=self.exclusive(name),
            )
            self.reconcilers[name] = Reconciler(
                live.venue,
                oms_sink=system.oms.on_venue_report,
                cache=system.cache,
                portfolio=system.portfolio,
                recorder=system.recorder,
                gate=self.gate,
                clock=system.clock,
                config=config,
            )
            live.gate = self.gate
            live.on_ready.append(functools.partial(self._venue_up, name))
            if not config.check_balances:
                logger.warning(
                    "%s shares account %s with %s: its balances and positions are not compared "
                    "(give each venue its own account_id to have them reconciled)",
                    name,
                    self.accounts[name],
                    ", ".join(n for n in self._by_account[self.accounts[name]] if n != name),
                )

    def begin(self) -> None:
        """After recovery, from the building thread: halt every venue until its start run ends
        clean, and start the runs of the venues already connected."""
        system, loop = self._require()
        with system.recorder.unit():
            for name, reconciler in self.reconcilers.items():
                why = (
                    "reconciling at start" if self._live[name].ready else "not connected; reconciles when up"
                )
                reconciler.books.set_state(TradingState.HALTED, why)
        system.journal.flush()
        for name, live in self._live.items():
            if live.ready:
                loop.call_soon_threadsafe(self._venue_up, name)

    def _venue_up(self, name: str) -> None:
        """On the loop, when the venue is connected: its start run the first time, else a run now."""
        reconciler = self.reconcilers[name]
        if name in self._started:
            reconciler.request("restarted")
            return
        self._started.add(name)
        task = asyncio.get_running_loop().create_task(self._start(name, reconciler))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, name: str, reconciler: Reconciler) -> None:
        fills = await asyncio.to_thread(self._stored_fills, name)
        try:
            report = await reconciler.recover(fills)
            logger.info("%s: start reconciliation -> %s", name, report.state.value)
        finally:
            reconciler.start()  # periodic runs, which also retry a failed start

    def _stored_fills(self, name: str) -> list[Fill]:
        system, _ = self._require()
        since = system.clock.now_ms() - int(self.settings.start_lookback_s * 1000)
        query = FillQuery(self.accounts[name], venue=name, since_ms=since, limit=_FILL_PAGE)
        fills: list[Fill] = []
        with system.uow_factory() as uow:
            while True:
                page = uow.fills.list(query)
                fills.extend(page.items)
                if page.next_cursor is None:
                    return fills
                query = dataclasses.replace(query, cursor=page.next_cursor)

    def stop(self) -> None:
        """For TradingSystem.closers: stop the periodic runs before the venues close."""
        if self._loop is None:
            return

        async def stop_all() -> None:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await asyncio.gather(*(r.stop() for r in self.reconcilers.values()), return_exceptions=True)

        run_on_loop(self._loop, stop_all, STOP_TIMEOUT_S)

    # --- for the API --------------------------------------------------------------------------------
    def status(self) -> list[dict[str, Any]]:
        """Per venue: trading state and reason, account, what is compared, the last run's report."""
        out = []
        for name, reconciler in self.reconcilers.items():
            out.append(
                {
                    "venue": name,
                    "account_id": self.accounts[name],
                    "trading": self.gate.state(name).value,
                    "reason": self.gate.reason(name),
                    "compares_balances": reconciler.config.check_balances,
                    "runs": reconciler.runs,
                    "last_report": report_to_dict(reconciler.last_report),
                }
            )
        return out

    def _require(self) -> tuple[TradingSystem, asyncio.AbstractEventLoop]:
        if self._system is None or self._loop is None:
            raise RuntimeError("ServiceReconciliation.attach() was not called")
        return self._system, self._loop


def report_to_dict(report: ReconciliationReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "trigger": report.trigger,
        "started_ms": report.started_ms,
        "finished_ms": report.finished_ms,
        "state": report.state.value,
        "failed": report.failed,
        "orders_checked": report.orders_checked,
        "fills_checked": report.fills_checked,
        "balances_checked": report.balances_checked,
        "corrections": [
            {
                "kind": c.kind.value,
                "target": c.target,
                "reason": c.reason,
                "before": c.before,
                "after": c.after,
            }
            for c in report.corrections
        ],
        "discrepancies": [
            {
                "kind": d.kind.value,
                "key": d.key,
                "target": d.target,
                "detail": d.detail,
                "severity": d.severity.value,
            }
            for d in report.discrepancies
        ],
    }
