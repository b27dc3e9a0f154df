"""Reconciler: compares one venue's orders, fills, balances and positions with the books and corrects them.

The venue is the truth. A run reads the venue (open orders, own trades, balances), compares, and
has the books corrected (reconciliation_books.py): fills and order states through the OMS's
transition table, balances through the portfolio, each audited and published in its own unit.
While something is left unreconciled, the venue's gate keeps trading on it REDUCING or HALTED.

Orders the venue adapter follows are corrected through the adapter (`sync_order` reads the order
and its trades and reports what the OMS lacks), which keeps the adapter's own record coherent;
orders nobody follows (after a restart, adopted ones) are corrected directly, then handed to the
adapter. Runs happen at start (`recover`), after a reconnect (the breaker closing) and
periodically, on the event loop; they never overlap. See docs/reconciliation.md."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tradeforge.domain.errors import TradeForgeError
from tradeforge.domain.events import OrderAccepted, OrderCancelled, OrderEvent, OrderRejected
from tradeforge.domain.fills import Fill
from tradeforge.domain.orders import Order, OrderStatus
from tradeforge.engine.order_cache import OrderCache
from tradeforge.engine.portfolio import Portfolio
from tradeforge.engine.reconciliation_books import Books, remember
from tradeforge.engine.reconciliation_events import (
    CorrectionKind,
    DiscrepancyKind,
)
from tradeforge.engine.reconciliation_report import (
    OPEN_STATUSES,
    STOP_TYPES,
    BreakerSnapshotLike,
    ReconcilableVenue,
    ReconciliationReport,
    VenueGate,
    VenueOrderView,
    VenueTradeView,
    agrees,
    same_fill,
    venue_filled,
)
from tradeforge.engine.recorder import UnitRecorder
from tradeforge.engine.risk_rules import TradingState
from tradeforge.ports.clock import Clock
from tradeforge.ports.venue import VenueReportSink

logger = logging.getLogger(__name__)

_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED})


@dataclass(frozen=True, slots=True)
class ReconcilerConfig:
    """interval_s: periodic runs; retry_interval_s: the pause instead while the venue is not active.
    symbols: what is compared (None: the venue's instruments), plus any symbol with a working order.
    adopt_prefixes: an open venue order unknown to the books whose client id starts with one of
    these becomes a local order; any other is flagged as foreign. start_lookback_ms: how far back
    the first trade scan reads; fill_overlap_ms: each scan re-reads this much before the last trade
    seen. concurrency: orders checked at once. balance_attempts: reads for a balance snapshot no
    trade crossed. check_positions, check_balances: off when other venues book into the venue's
    account (its balances and positions are then not the venue's alone)."""

    interval_s: float = 60.0
    retry_interval_s: float = 5.0
    symbols: tuple[str, ...] | None = None
    adopt_prefixes: tuple[str, ...] = ("api-",)
    start_lookback_ms: int = 3_600_000
    fill_overlap_ms: int = 5_000
    concurrency: int = 8
    balance_attempts: int = 3
    check_positions: bool = True
    check_balances: bool = True


class Reconciler:
    """Reconciles one venue. Everything runs on the event loop's thread (the engine thread); the
    books change only inside recorder units that contain no await."""

    def __init__(
        self,
        venue: ReconcilableVenue,
        *,
        oms_sink: VenueReportSink,
        cache: OrderCache,
        portfolio: Portfolio,
        recorder: UnitRecorder,
        gate: VenueGate,
        clock: Clock,
        config: ReconcilerConfig | None = None,
    ) -> None:
        self._venue = venue
        self.name = venue.name
        self._clock = clock
        self._recorder = recorder
        self._gate = gate
        self.config = config or ReconcilerConfig()
        self.books = Books(
            venue.name,
            venue.account_id,
            venue_client_id=venue.client.capabilities.client_id.venue_id,
            oms_sink=oms_sink,
            cache=cache,
            portfolio=portfolio,
            recorder=recorder,
            gate=gate,
            clock=clock,
        )
        self._watermarks: dict[str, int] = {}
        self._since_ms = clock.now_ms() - self.config.start_lookback_ms
        self._lock = asyncio.Lock()
        self._acknowledged: set[str] = set()
        self._wake: asyncio.Event | None = None
        self._next_trigger = "periodic"
        self._task: asyncio.Task[None] | None = None
        self.last_report: ReconciliationReport | None = None
        self.runs = 0
        # The reconciler stands between the adapter and the OMS (the OMS bound it first), and
        # learns of every reconnect from the adapter's breaker.
        venue.bind(self.books.on_report)
        venue.client.breaker.on_change(self._on_breaker)

    # --- lifecycle ------------------------------------------------------------------------------
    async def recover(self, fills: Iterable[Fill] = ()) -> ReconciliationReport:
        """The start-up run, before trading: the venue stays HALTED until the books match.
        fills: the stored fills of this venue since `start_lookback_ms` (never reported again)."""
        mine = [f for f in fills if f.venue == self.name]
        for fill in mine:
            self.books.ledger.add(fill)
        self._venue.mark_trades_seen(f.fill_id for f in mine)
        with self._recorder.unit():
            self.books.set_state(TradingState.HALTED, "reconciling at start")
        return await self.reconcile("start")

    def start(self) -> None:
        """Periodic runs, and runs on request (reconnects), on the running loop."""
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run_forever())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def request(self, trigger: str) -> None:
        """Run soon (coalesced with a run already asked for); needs start()."""
        self._next_trigger = trigger
        if self._wake is not None:
            self._wake.set()

    def acknowledge(self, key: str, actor: str, reason: str) -> None:
        """An operator accepts a flagged discrepancy (its Discrepancy.key): it no longer holds the gate."""
        self._acknowledged.add(key)
        self.books.audit(actor, "reconciliation.acknowledge", key, {"reason": reason})
        self.request("acknowledged")

    async def _run_forever(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            calm = self._gate.state(self.name) is TradingState.ACTIVE
            pause = self.config.interval_s if calm else self.config.retry_interval_s
            try:
                await asyncio.wait_for(wake.wait(), pause)
                trigger = self._next_trigger
            except TimeoutError:
                trigger = "periodic"
            wake.clear()
            self._next_trigger = "periodic"
            try:
                await self.reconcile(trigger)
            except Exception:  # the loop must outlive a bug in one run; the gate already holds
                logger.exception("%s: reconciliation run crashed", self.name)

    def _on_breaker(self, snapshot: BreakerSnapshotLike) -> None:
        state = str(snapshot.state)
        if state == "open":
            self.books.hold("venue unreachable (circuit open)")
        elif state == "closed":
            self.books.hold("reconnected; reconciling")
            self.request("reconnect")

    # --- a run ----------------------------------------------------------------------------------
    async def reconcile(self, trigger: str = "manual") -> ReconciliationReport:
        """One run; returns its report, and the venue's gate follows its outcome."""
        async with self._lock:
            report = ReconciliationReport(self.name, trigger, self._clock.now_ms())
            self.books.current = report
            try:
                await self._compare(report)
            except TradeForgeError as error:
                report.failed = str(error)
            except Exception as error:
                logger.exception("%s: reconciliation failed", self.name)
                report.failed = f"{type(error).__name__}: {error}"
            finally:
                self.books.current = None
            self._conclude(report)
            return report

    async def _compare(self, report: ReconciliationReport) -> None:
        venue = self._venue
        symbols = self._symbols()
        listings = await asyncio.gather(*(venue.fetch_open_orders(s) for s in symbols))
        await self._check_orders(report, [o for listing in listings for o in listing])
        for symbol in symbols:
            await self._scan_fills(report, symbol)
        if self.config.check_positions:
            self.books.check_positions(report, symbols)
        if self.config.check_balances and not report.unsettled:
            await self._check_balances(report, symbols)
        if self._watermarks:
            self.books.ledger.prune(min(self._watermarks.values()) - self.config.fill_overlap_ms)

    def _symbols(self) -> list[str]:
        chosen = set(self.config.symbols or (i.symbol for i in self._venue.instruments()))
        chosen.update(o.symbol for o in self.books.cache.all_working() if o.venue == self.name)
        return sorted(chosen)

    def _conclude(self, report: ReconciliationReport) -> None:
        report.finished_ms = self._clock.now_ms()
        state, reason = report.outcome(frozenset(self._acknowledged))
        if report.trigger == "start" and report.failed is not None:
            state = TradingState.HALTED
        report.state = state
        with self._recorder.unit():
            self.books.conclude(report, state, reason)
        self.last_report = report
        self.runs += 1
        if report.corrections or report.discrepancies or report.failed:
            logger.info(
                "%s reconciled (%s): corrections %s, open %s, failed %s -> %s",
                self.name,
                report.trigger,
                report.correction_counts(),
                report.discrepancy_counts(),
                report.failed,
                state.value,
            )

    # --- orders -----------------------------------------------------------------------------------
    async def _check_orders(self, report: ReconciliationReport, listed: Sequence[VenueOrderView]) -> None:
        venue, books = self._venue, self.books
        # Read together, with no await between: the working orders and which the adapter follows.
        local = [o for o in books.cache.all_working() if o.venue == self.name]
        tracked = set(venue.working_order_ids())
        unresolved = set(venue.unresolved_orders())
        by_id = {o.venue_order_id: o for o in listed}
        newest_first = sorted(listed, key=lambda o: o.timestamp or 0)
        by_cid = {o.client_order_id: o for o in newest_first if o.client_order_id}
        matched: set[str] = set()
        jobs = []
        for order in local:
            venue_cid = books.venue_client_id(order.client_order_id)
            remember(books.by_venue_cid, venue_cid, order.id)
            found = by_cid.get(venue_cid) or by_id.get(order.venue_order_id or "")
            if found is not None:
                matched.add(found.venue_order_id)
            jobs.append(self._check_order(report, order, found, order.id in tracked, order.id in unresolved))
        report.orders_checked = len(local)
        await self._bounded(jobs)
        for found in listed:
            if found.venue_order_id not in matched:
                await self._unknown_order(report, found)

    async def _bounded(self, jobs: list[Coroutine[Any, Any, None]]) -> None:
        limit = asyncio.Semaphore(self.config.concurrency)

        async def one(job: Coroutine[Any, Any, None]) -> None:
            async with limit:
                await job

        await asyncio.gather(*(one(job) for job in jobs))

    async def _check_order(
        self,
        report: ReconciliationReport,
        order: Order,
        found: VenueOrderView | None,
        tracked: bool,
        unresolved: bool,
    ) -> None:
        try:
            await self._settle_order(report, order, found, tracked, unresolved)
        except TradeForgeError as error:
            report.flag(DiscrepancyKind.ORDER_MISMATCH, order.id, f"could not be checked: {error}")

    async def _settle_order(
        self,
        report: ReconciliationReport,
        order: Order,
        found: VenueOrderView | None,
        tracked: bool,
        unresolved: bool,
    ) -> None:
        if not order.is_working or (found is not None and agrees(order, found)):
            return
        if tracked and order.status is OrderStatus.PENDING:
            if unresolved:
                report.flag(
                    DiscrepancyKind.UNRESOLVED_ORDER, order.id, "not known yet whether its create landed"
                )
            return  # a create under way: the adapter settles it
        # Read it again, by client id: the listing may be older than the books (the adapter booked a
        # fill since), or may not show it (a page holds 20 open orders on bybit, 100 on okx).
        venue, stop = self._venue, order.type in STOP_TYPES
        found = await venue.find_order(order.client_order_id, order.symbol, stop)
        if not order.is_working or (found is not None and agrees(order, found)):
            return
        with self.books.holding(report, "reconciling: an order differs from the venue"):
            if not tracked:
                await self._settle_untracked(report, order, found)
                return
            for _ in range(2):  # a second round: the venue may have moved on while we read it
                await self._sync(order, "the venue's order differs from the books")
                if _finished(order):  # (a function: mypy keeps is_working narrowed across awaits)
                    return
                found = await venue.find_order(order.client_order_id, order.symbol, stop)
                if _finished(order) or (found is not None and agrees(order, found)):
                    return
            self.books.settle_after_sync(report, order, found)

    async def _sync(self, order: Order, reason: str) -> None:
        """Have the adapter report what the OMS lacks for this order; its reports are corrections."""
        self.books.capturing[order.id] = reason
        try:
            await self._venue.sync_order(order.id)
        finally:
            self.books.capturing.pop(order.id, None)

    async def _settle_untracked(
        self, report: ReconciliationReport, order: Order, found: VenueOrderView | None
    ) -> None:
        """A working order no adapter follows: corrected directly, then handed to the adapter."""
        books, now = self.books, self._clock.now_ms()
        if found is None:
            reason = f"not on venue {self.name} (reconciliation)"
            event: OrderEvent = (
                OrderRejected(now, order.id, reason)
                if order.status is OrderStatus.PENDING
                else OrderCancelled(now, order.id, reason)
            )
            books.apply(report, event, CorrectionKind.LOCAL_ONLY, "the venue has no order with its client id")
            return
        if order.status is OrderStatus.PENDING:
            accepted = OrderAccepted(now, order.id, found.venue_order_id)
            books.apply(
                report, accepted, CorrectionKind.ORDER_ACCEPTED, "found on the venue by client order id"
            )
        remember(books.by_venue_order, found.venue_order_id, order.id)
        venue_ids = {found.venue_order_id, order.venue_order_id or ""}
        listing = await self._venue.fetch_fills(
            order.symbol, order.created_at - self.config.start_lookback_ms
        )
        for item in sorted(listing, key=lambda i: (i.trade.ts, i.trade.trade_id)):
            ours = item.trade.venue_order_id in venue_ids and not books.booked(item.trade)
            if ours and books.book(report, order, item.trade):
                self._venue.mark_trades_seen([item.trade.trade_id])
        if order.is_working and found.status in _TERMINAL:
            books.finish(report, order, found)
        elif order.is_working and not agrees(order, found) and venue_filled(found) == order.filled_quantity:
            books.correct_amend(report, order, found)
        if order.is_working:
            self._venue.mark_trades_seen(books.ledger.by_order.get(order.id, ()))
            self._venue.restore([order], [])

    async def _unknown_order(self, report: ReconciliationReport, found: VenueOrderView) -> None:
        """An open venue order that matches no working order of ours."""
        books = self.books
        venue_cid = found.client_order_id or ""
        known = books.by_venue_cid.get(venue_cid) or books.cache.order_id_for(books.account_id, venue_cid)
        try:
            if known is not None:
                order = books.cache.get(known)
                if order is not None and order.is_working:
                    return  # it became one of ours since the listing
                fresh = await self._venue.find_order(venue_cid, found.symbol, found.stop_price is not None)
                if fresh is not None and fresh.status in OPEN_STATUSES:
                    detail = f"venue order {fresh.venue_order_id} is open; the books finished {known}"
                    report.flag(DiscrepancyKind.FINISHED_ORDER_ALIVE, known, detail)
                return
            if venue_cid and venue_cid.startswith(self.config.adopt_prefixes):
                with books.holding(report, "reconciling: an order of ours the books lack"):
                    adopted = books.adopt(report, found)
                    if adopted is not None:
                        await self._settle_untracked(report, adopted, found)
                return
            side = found.side.value if found.side is not None else "?"
            detail = f"open {side} {found.quantity} {found.symbol}, client id {venue_cid!r}: not placed by us"
            report.flag(DiscrepancyKind.FOREIGN_ORDER, found.venue_order_id, detail)
        except TradeForgeError as error:
            report.flag(
                DiscrepancyKind.ORDER_MISMATCH, found.venue_order_id, f"could not be checked: {error}"
            )

    # --- fills and positions ------------------------------------------------------------------------
    async def _scan_fills(self, report: ReconciliationReport, symbol: str) -> int:
        """Every venue trade of ours since the watermark must be booked, once, as the venue lists it.
        Returns how many are still waiting (the watermark stays before them)."""
        books = self.books
        since = self._watermarks.get(symbol, self._since_ms)
        listing = await self._venue.fetch_fills(symbol, since)
        report.fills_checked += len(listing)
        missing: dict[str, list[VenueTradeView]] = {}
        unattributed: list[int] = []
        # A trade of an order whose create is still under way cannot be attributed yet.
        creating = any(
            o.status is OrderStatus.PENDING and o.venue == self.name for o in books.cache.all_working()
        )
        for item in listing:
            trade, fill_id = item.trade, books.fill_id(item.trade)
            booked = books.ledger.fills.get(fill_id)
            if booked is not None:
                if not same_fill(booked, trade):
                    detail = (
                        f"booked {booked.quantity}@{booked.price} fee {booked.fee} {booked.fee_asset}; "
                        f"the venue lists {trade.quantity}@{trade.price} fee {trade.fee} {trade.fee_asset}"
                    )
                    report.flag(DiscrepancyKind.FILL_MISMATCH, fill_id, detail)
                continue
            order_id = item.order_id or books.by_venue_order.get(trade.venue_order_id or "")
            order = books.cache.get(order_id) if order_id else None
            if order_id is None and creating:
                unattributed.append(trade.ts)
            elif order_id is None:
                detail = f"venue order {trade.venue_order_id} was not placed by us"
                report.flag(DiscrepancyKind.FOREIGN_FILL, fill_id, detail)
            elif order is None or not order.is_working:
                detail = f"{order_id} is {order.status.value if order is not None else 'finished'}"
                report.flag(DiscrepancyKind.FINISHED_ORDER_FILL, fill_id, detail)
            else:
                missing.setdefault(order.id, []).append(trade)
        waiting = await self._book_missing(report, missing) + unattributed
        self.books.check_phantoms(report, symbol, since, listing)
        newest = max((item.trade.ts for item in listing), default=since)
        self._watermarks[symbol] = max(since, min([newest, *waiting]) - self.config.fill_overlap_ms)
        return len(waiting)

    async def _book_missing(
        self, report: ReconciliationReport, missing: dict[str, list[VenueTradeView]]
    ) -> list[int]:
        books, waiting = self.books, list[int]()
        tracked = set(self._venue.working_order_ids())
        for order_id, trades in missing.items():
            order = books.cache.working(order_id)
            unbooked = [t for t in trades if not books.booked(t)]
            if order is None or not unbooked:
                continue  # booked by the adapter meanwhile, or finished: the next scan tells
            if order_id in tracked and order.status is OrderStatus.PENDING:
                waiting.extend(t.ts for t in unbooked)  # its create is under way and books them
                continue
            with books.holding(report, "reconciling: venue trades the books lack"):
                if order_id in tracked:
                    try:
                        await self._sync(order, "venue trades the books lacked")
                    except TradeForgeError as error:
                        logger.info("%s: %s not synced: %s", self.name, order_id, error)
                else:
                    for trade in sorted(unbooked, key=lambda t: (t.ts, t.trade_id)):
                        if books.book(report, order, trade):
                            self._venue.mark_trades_seen([trade.trade_id])
                for trade in unbooked:
                    if not books.booked(trade):
                        report.flag(
                            DiscrepancyKind.MISSING_FILL, books.fill_id(trade), f"trade of {order_id}"
                        )
                        waiting.append(trade.ts)
        return waiting

    # --- balances -----------------------------------------------------------------------------------
    async def _check_balances(self, report: ReconciliationReport, symbols: list[str]) -> None:
        """Totals per asset, exactly, from a snapshot no trade crossed: nothing was booked while the
        balance was read, and every trade the venue lists right after it is booked."""
        ledger = self.books.ledger
        for _ in range(self.config.balance_attempts):
            sequence = ledger.sequence
            remote = await self._venue.fetch_balances()
            waiting = 0
            for symbol in symbols:
                waiting += await self._scan_fills(report, symbol)
            if report.unsettled:
                return
            if waiting or ledger.sequence != sequence:
                continue
            self.books.correct_balances(report, {b.asset: b.total for b in remote})
            report.balances_checked = True
            return
        logger.info("%s: trades kept crossing the balance snapshot; compared on the next run", self.name)


def _finished(order: Order) -> bool:
    return not order.is_working
