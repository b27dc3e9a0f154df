"""The reconciler's write side: it stands between a venue and the OMS, and books every correction.

Each change goes through the OMS's transition table or the portfolio inside one recorder unit,
together with its audit entry (actor "reconciler") and its ReconciliationCorrected event."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from tradeforge.bus import topics
from tradeforge.domain.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderTriggered,
)
from tradeforge.domain.identifiers import IdGenerator
from tradeforge.domain.orders import Order, OrderStatus, OrderType, TimeInForce
from tradeforge.domain.values import ZERO, decimal_str
from tradeforge.engine.order_cache import OrderCache
from tradeforge.engine.portfolio import Portfolio
from tradeforge.engine.reconciliation_events import (
    CorrectionKind,
    DiscrepancyKind,
    ReconciliationCompleted,
    ReconciliationCorrected,
    ReconciliationFlagged,
)
from tradeforge.engine.reconciliation_report import (
    OPEN_STATUSES,
    STOP_TYPES,
    Correction,
    FillLedger,
    ReconciliationReport,
    VenueFillView,
    VenueGate,
    VenueOrderView,
    VenueTradeView,
    order_state,
    venue_filled,
    venue_remaining,
)
from tradeforge.engine.recorder import UnitRecorder
from tradeforge.engine.risk_rules import TradingState
from tradeforge.ports.clock import Clock
from tradeforge.ports.venue import VenueReportSink

logger = logging.getLogger(__name__)

ACTOR = "reconciler"
KEPT = 200_000  # booked fills and id mappings remembered (the oldest are forgotten first)
_SUBMITTED = topics.order_event("submitted")


class Books:
    """One venue's view of the books for the reconciler: what was booked (fills, venue ids, client
    ids), and every way it may change them. Runs on the engine (event loop) thread."""

    def __init__(
        self,
        venue: str,
        account_id: str,
        *,
        venue_client_id: Callable[[str], str],
        oms_sink: VenueReportSink,
        cache: OrderCache,
        portfolio: Portfolio,
        recorder: UnitRecorder,
        gate: VenueGate,
        clock: Clock,
    ) -> None:
        self.venue = venue
        self.account_id = account_id
        self.venue_client_id = venue_client_id  # ours as the venue carries it (maybe a digest)
        self._oms_sink = oms_sink
        self.cache = cache
        self.portfolio = portfolio
        self._recorder = recorder
        self.gate = gate
        self._clock = clock
        self.ledger = FillLedger(KEPT)
        self.by_venue_order: OrderedDict[str, str] = OrderedDict()
        self.by_venue_cid: OrderedDict[str, str] = OrderedDict()
        # order id -> why: reports for these orders answer a sync the reconciler asked for
        self.capturing: dict[str, str] = {}
        self.current: ReconciliationReport | None = None
        self.totals: Counter[str] = Counter()  # corrections made since start, by kind
        self._open_flags: set[str] = set()
        self._order_ids = IdGenerator("O")
        self._position_base: dict[str, Decimal] = {}  # position minus its fills at the first check
        self._holds = 0  # open holding() scopes
        self._held = False  # a scope made the venue REDUCING
        self._sticky = False  # keep it so until the run's outcome

    def fill_id(self, trade: VenueTradeView) -> str:
        return f"{self.venue}:{trade.trade_id}"

    def booked(self, trade: VenueTradeView) -> bool:
        return self.fill_id(trade) in self.ledger.fills

    # --- between the adapter and the OMS -----------------------------------------------------------
    def on_report(self, event: OrderEvent) -> None:
        """The venue's report sink. Reports pass to the OMS; those answering a sync the reconciler
        asked for are recorded as its corrections, in the OMS's unit."""
        order = self.cache.working(event.order_id)
        reason = self.capturing.get(event.order_id)
        report = self.current
        if reason is None or order is None or report is None:
            self._forward(event, order)
            return
        with self._recorder.unit():
            before = order_state(order)
            if self._forward(event, order):
                self.record(report, _kind_of(event), order.id, reason, before, _after(order, event))

    def _forward(self, event: OrderEvent, order: Order | None) -> bool:
        """Hand a report to the OMS; True when it changed the order (what it booked is noted)."""
        version = order.version if order is not None else None
        self._oms_sink(event)
        if order is None or order.version == version:
            return False
        if isinstance(event, OrderFilled):
            self.ledger.add(event.fill)
        elif isinstance(event, OrderAccepted):
            remember(self.by_venue_order, event.venue_order_id, order.id)
            remember(self.by_venue_cid, self.venue_client_id(order.client_order_id), order.id)
        if not order.is_working:
            self.ledger.forget_order(order.id)
        return True

    # --- corrections -------------------------------------------------------------------------------
    def apply(
        self, report: ReconciliationReport, event: OrderEvent, kind: CorrectionKind, reason: str
    ) -> bool:
        """A correction of the reconciler's own, through the OMS's transition table."""
        order = self.cache.working(event.order_id)
        if order is None:
            return False
        with self._recorder.unit():
            before = order_state(order)
            if not self._forward(event, order):
                return False
            self.record(report, kind, order.id, reason, before, _after(order, event))
        return True

    def record(
        self,
        report: ReconciliationReport,
        kind: CorrectionKind,
        target: str,
        reason: str,
        before: dict[str, Any],
        after: dict[str, Any],
    ) -> None:
        """Audit and publish one correction (inside the unit that made it)."""
        now = self._clock.now_ms()
        report.corrections.append(Correction(kind, target, reason, before, after))
        self.totals[kind.value] += 1
        details = {"reason": reason, "before": before, "after": after}
        self._recorder.audit(now, ACTOR, f"reconciliation.{kind.value}", f"{self.venue}:{target}", details)
        event = ReconciliationCorrected(now, self.venue, kind.value, target, reason, before, after)
        self._recorder.event(topics.reconciliation(self.venue, "corrected"), event)

    def book(self, report: ReconciliationReport, order: Order, trade: VenueTradeView) -> bool:
        """Book a venue trade of a working order nobody else reports (True when booked)."""
        if not order.is_working:
            report.flag(
                DiscrepancyKind.FINISHED_ORDER_FILL,
                self.fill_id(trade),
                f"{order.id} is {order.status.value}",
            )
            return False
        if order.filled_quantity + trade.quantity > order.quantity:
            report.flag(DiscrepancyKind.ORDER_MISMATCH, order.id, f"trade {trade.trade_id} would overfill it")
            return False
        reason = "a venue trade the books lacked"
        with self._recorder.unit():
            if order.type in STOP_TYPES and not order.triggered and order.status is OrderStatus.OPEN:
                self.apply(report, OrderTriggered(trade.ts, order.id), CorrectionKind.ORDER_STATUS, reason)
            fill = trade.to_fill(
                self.venue, order.id, order.client_order_id, order.account_id, order.strategy_id
            )
            return self.apply(report, OrderFilled(trade.ts, order.id, fill), CorrectionKind.FILL, reason)

    def finish(self, report: ReconciliationReport, order: Order, found: VenueOrderView) -> None:
        """The venue finished the order; applied only once every fill it counts is booked."""
        counted = venue_filled(found) or ZERO
        if found.venue_order_id == order.venue_order_id and counted > order.filled_quantity:
            report.flag(DiscrepancyKind.MISSING_FILL, order.id, "the venue counts fills its trade list lacks")
            return
        now = self._clock.now_ms()
        status = found.status
        event: OrderEvent
        if status is OrderStatus.FILLED:
            left = decimal_str(order.remaining)
            event = OrderExpired(now, order.id, f"closed by venue {self.venue} with {left} unfilled")
        elif status is OrderStatus.CANCELLED and order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            event = OrderExpired(
                now, order.id, f"{order.time_in_force.value}: the rest was not fillable at once"
            )
        elif status is OrderStatus.CANCELLED:
            event = OrderCancelled(now, order.id, f"cancelled by venue {self.venue}")
        elif status is OrderStatus.EXPIRED:
            event = OrderExpired(now, order.id, "expired")
        else:
            event = OrderCancelled(now, order.id, f"rejected by venue {self.venue}")
        self.apply(report, event, CorrectionKind.ORDER_STATUS, "the venue finished the order")

    def settle_after_sync(
        self, report: ReconciliationReport, order: Order, found: VenueOrderView | None
    ) -> None:
        """What the adapter's sync left different: an amend the books never saw, or an open issue."""
        if found is None:
            report.flag(DiscrepancyKind.ORDER_MISMATCH, order.id, "the venue has no order with its client id")
        elif (
            found.status in OPEN_STATUSES
            and found.venue_order_id == order.venue_order_id
            and venue_filled(found) == order.filled_quantity
        ):
            self.correct_amend(report, order, found)
        else:
            report.flag(DiscrepancyKind.ORDER_MISMATCH, order.id, difference(order, found))

    def check_phantoms(
        self, report: ReconciliationReport, symbol: str, since: int, listing: Sequence[VenueFillView]
    ) -> None:
        """A booked fill inside the time span a listing covers, but not in it, never happened there.
        Only the inner span counts: a page may cut a listing at either end."""
        if len(listing) < 2:
            return
        stamps = [item.trade.ts for item in listing]
        low, high = min(stamps), max(stamps)
        listed = {self.fill_id(item.trade) for item in listing}
        for fill in self.ledger.recent(symbol, max(since, low + 1)):
            if fill.ts < high and fill.fill_id not in listed:
                detail = f"booked for {fill.order_id}; the venue lists no such trade"
                report.flag(DiscrepancyKind.PHANTOM_FILL, fill.fill_id, detail)

    def check_positions(self, report: ReconciliationReport, symbols: list[str]) -> None:
        """A position is what its fills add up to: the one at the first check plus every fill of this
        venue booked since (each matched to the venue's trade list by the scan)."""
        for symbol in symbols:
            position = self.portfolio.position_quantity(self.account_id, symbol)
            net = self.ledger.net.get(symbol, ZERO)
            base = self._position_base.setdefault(symbol, position - net)
            if position != base + net:
                detail = f"position {position}; its fills add up to {base + net}"
                report.flag(DiscrepancyKind.POSITION, symbol, detail)

    def correct_amend(self, report: ReconciliationReport, order: Order, found: VenueOrderView) -> None:
        """The venue holds the order with another quantity or price: take the venue's."""
        remaining = venue_remaining(found)
        if remaining is None or remaining <= ZERO:
            report.flag(DiscrepancyKind.ORDER_MISMATCH, order.id, difference(order, found))
            return
        price = found.price if order.limit_price is not None else order.price
        quantity = order.filled_quantity + remaining
        amended = OrderAmended(self._clock.now_ms(), order.id, quantity, price, order.stop_price)
        reason = "the venue holds it with another quantity or price (an amend whose answer was lost)"
        self.apply(report, amended, CorrectionKind.ORDER_AMENDED, reason)

    def adopt(self, report: ReconciliationReport, found: VenueOrderView) -> Order | None:
        """A venue order with our client-id prefix that the books never stored becomes a local order
        (submitted and accepted in one unit); its fills and final state are settled afterwards."""
        if found.side is None or found.quantity is None or found.client_order_id is None:
            report.flag(
                DiscrepancyKind.ORDER_MISMATCH, found.venue_order_id, "cannot adopt: incomplete venue order"
            )
            return None
        kind = OrderType.LIMIT if found.type == "limit" else OrderType.MARKET
        if found.stop_price is not None:
            kind = OrderType.STOP_LIMIT if kind is OrderType.LIMIT else OrderType.STOP
        now = self._clock.now_ms()
        order = Order(
            id=self._order_ids.next(),
            client_order_id=found.client_order_id,
            account_id=self.account_id,
            venue=self.venue,
            symbol=found.symbol,
            side=found.side,
            type=kind,
            quantity=found.quantity,
            price=found.price if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
            stop_price=found.stop_price,
            time_in_force=TimeInForce.GTC,
            expire_at=None,
            strategy_id=None,
            created_at=found.timestamp or now,
            updated_at=now,
        )
        with self._recorder.unit():
            self.cache.add(order)
            self._recorder.order(order)
            self._recorder.event(_SUBMITTED, order.submitted_event(now))
            reason = f"open on venue {self.venue} as {found.venue_order_id} under our client-id prefix"
            self.record(report, CorrectionKind.ORDER_ADOPTED, order.id, reason, {}, order_state(order))
            accepted = OrderAccepted(now, order.id, found.venue_order_id)
            self.apply(report, accepted, CorrectionKind.ORDER_ACCEPTED, "adopted from the venue")
        remember(self.by_venue_cid, found.client_order_id, order.id)
        return order

    def correct_balances(self, report: ReconciliationReport, remote: dict[str, Any]) -> None:
        """Totals per asset become the venue's (remote: asset -> total), booked through the portfolio."""
        local = {b.asset: b.total for b in self.portfolio.balances(self.account_id)}
        for asset in sorted(local.keys() | remote.keys()):
            before, after = local.get(asset, ZERO), remote.get(asset, ZERO)
            if before == after:
                continue
            now = self._clock.now_ms()
            with self.holding(report, "reconciling: balances differ from the venue"), self._recorder.unit():
                balance = self.portfolio.deposit(self.account_id, asset, after - before, now)
                self._recorder.balance(balance)
                self._recorder.publish(topics.balance(asset), Portfolio.balance_event(balance, now))
                reason = (
                    "the venue's total differs from the books (a deposit, withdrawal or a trade not ours)"
                )
                before_total, after_total = {"total": decimal_str(before)}, {"total": decimal_str(after)}
                self.record(report, CorrectionKind.BALANCE, asset, reason, before_total, after_total)

    # --- the gate and the flags --------------------------------------------------------------------
    @contextlib.contextmanager
    def holding(self, report: ReconciliationReport, reason: str) -> Iterator[None]:
        """While a discrepancy found is being corrected, the venue is REDUCING; once every one being
        corrected is, it is ACTIVE again, unless one was left open (then the run's outcome decides).
        May span awaits; scopes of concurrent checks nest."""
        left_open = report.open_count()
        if self._holds == 0 and self.gate.state(self.venue) is TradingState.ACTIVE:
            with self._recorder.unit():
                self.set_state(TradingState.REDUCING, reason)
            self._held = True
        self._holds += 1
        failed = True  # a correction that raised left its discrepancy open
        try:
            yield
            failed = False
        finally:
            self._holds -= 1
            self._sticky = self._sticky or failed or report.open_count() > left_open
            if self._holds == 0 and self._held and not self._sticky:
                self._held = False
                with self._recorder.unit():
                    self.set_state(TradingState.ACTIVE, "the differences found were corrected")

    def hold(self, reason: str) -> None:
        """Something makes the books doubtful until the next run ends (a disconnect, a reconnect)."""
        self._sticky = True
        if self.gate.state(self.venue) is TradingState.ACTIVE:
            with self._recorder.unit():
                self.set_state(TradingState.REDUCING, reason)

    def conclude(self, report: ReconciliationReport, state: TradingState, reason: str) -> None:
        """The run's outcome decides the gate; its new discrepancies and its summary are published
        (inside the run's final unit)."""
        self.publish_flags(report)
        self._sticky = self._held = False
        self.set_state(state, reason)
        summary = ReconciliationCompleted(
            report.finished_ms,
            self.venue,
            report.trigger,
            len(report.corrections),
            len(report.discrepancies),
            report.failed,
            state.value,
        )
        self._recorder.event(topics.reconciliation(self.venue, "completed"), summary)

    def set_state(self, state: TradingState, reason: str) -> None:
        event = self.gate.set(self.venue, state, reason, ACTOR)
        if event is not None:
            details = {"state": state.value, "reason": reason}
            self._recorder.audit(event.ts, ACTOR, "venue.trading_state", self.venue, details)
            self._recorder.event(topics.reconciliation(self.venue, "state"), event)

    def publish_flags(self, report: ReconciliationReport) -> None:
        """Each open discrepancy is audited and published once, until a run no longer finds it."""
        now = self._clock.now_ms()
        keys: set[str] = set()
        for item in report.discrepancies:
            keys.add(item.key)
            if item.key in self._open_flags:
                continue
            details = {"kind": item.kind.value, "severity": item.severity.value, "detail": item.detail}
            self._recorder.audit(now, ACTOR, "reconciliation.flagged", f"{self.venue}:{item.target}", details)
            kind, severity = item.kind.value, item.severity.value
            event = ReconciliationFlagged(now, self.venue, kind, item.target, severity, item.detail)
            self._recorder.event(topics.reconciliation(self.venue, "flagged"), event)
        self._open_flags = keys if report.failed is None else self._open_flags | keys

    def audit(self, actor: str, action: str, target: str, details: dict[str, Any]) -> None:
        with self._recorder.unit():
            self._recorder.audit(self._clock.now_ms(), actor, action, f"{self.venue}:{target}", details)


def remember(mapping: OrderedDict[str, str], key: str, value: str) -> None:
    mapping[key] = value
    mapping.move_to_end(key)
    while len(mapping) > KEPT:
        mapping.popitem(last=False)


def difference(order: Order, found: VenueOrderView) -> str:
    status = found.status.value if found.status is not None else "?"
    return (
        f"books: {order.status.value} {order.filled_quantity}/{order.quantity} @ {order.price}; "
        f"venue {found.venue_order_id}: {status} {found.filled}/{found.quantity} @ {found.price}"
    )


def _kind_of(event: OrderEvent) -> CorrectionKind:
    if isinstance(event, OrderFilled):
        return CorrectionKind.FILL
    if isinstance(event, OrderAccepted):
        return CorrectionKind.ORDER_ACCEPTED
    if isinstance(event, OrderAmended):
        return CorrectionKind.ORDER_AMENDED
    return CorrectionKind.ORDER_STATUS


def _after(order: Order, event: OrderEvent) -> dict[str, Any]:
    after = order_state(order)
    if isinstance(event, OrderFilled):
        fill = event.fill
        after["fill"] = {
            "id": fill.fill_id,
            "quantity": decimal_str(fill.quantity),
            "price": decimal_str(fill.price),
            "fee": decimal_str(fill.fee),
            "fee_asset": fill.fee_asset,
        }
    return after
