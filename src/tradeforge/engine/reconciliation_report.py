"""Reconciliation's parts: what it reads from a venue, how it compares, the fill ledger, the report, the gate.

Kept apart from reconciliation.py (the runs and the corrections) so that module stays readable; the
engine layer does not import adapters, so what the reconciler needs from a venue is a Protocol here
(the ccxt adapter's CcxtVenue satisfies it)."""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from tradeforge.domain.balances import Balance
from tradeforge.domain.fills import Fill, OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order, OrderStatus, OrderType
from tradeforge.domain.values import ZERO, decimal_str
from tradeforge.engine.reconciliation_events import (
    SEVERITY,
    CorrectionKind,
    DiscrepancyKind,
    Severity,
    VenueTradingStateChanged,
)
from tradeforge.engine.risk_rules import RiskLimits, RiskView, TradingState, check_trading_state
from tradeforge.ports.clock import Clock
from tradeforge.ports.venue import VenueReportSink

STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
OPEN_STATUSES = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})


# --- what the reconciler reads from a venue (satisfied by tradeforge.adapters.ccxt.CcxtVenue) ------
class VenueOrderView(Protocol):
    @property
    def venue_order_id(self) -> str: ...
    @property
    def client_order_id(self) -> str | None: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> OrderSide | None: ...
    @property
    def type(self) -> str | None: ...
    @property
    def status(self) -> OrderStatus | None: ...
    @property
    def quantity(self) -> Decimal | None: ...
    @property
    def filled(self) -> Decimal | None: ...
    @property
    def price(self) -> Decimal | None: ...
    @property
    def stop_price(self) -> Decimal | None: ...
    @property
    def timestamp(self) -> int | None: ...


class VenueTradeView(Protocol):
    @property
    def trade_id(self) -> str: ...
    @property
    def venue_order_id(self) -> str | None: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> OrderSide: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def fee(self) -> Decimal: ...
    @property
    def fee_asset(self) -> str: ...
    @property
    def ts(self) -> int: ...

    def to_fill(
        self,
        venue: str,
        order_id: str,
        client_order_id: str,
        account_id: str,
        strategy_id: str | None = None,
    ) -> Fill: ...


class VenueFillView(Protocol):
    @property
    def trade(self) -> VenueTradeView: ...
    @property
    def order_id(self) -> str | None: ...


class BreakerSnapshotLike(Protocol):
    @property
    def state(self) -> str: ...


class BreakerLike(Protocol):
    def on_change(self, listener: Callable[[BreakerSnapshotLike], None]) -> None: ...


class ClientIdRuleLike(Protocol):
    def venue_id(self, client_order_id: str) -> str: ...


class CapabilitiesLike(Protocol):
    @property
    def client_id(self) -> ClientIdRuleLike: ...


class VenueClientLike(Protocol):
    @property
    def capabilities(self) -> CapabilitiesLike: ...
    @property
    def breaker(self) -> BreakerLike: ...


class ReconcilableVenue(Protocol):
    """The Venue port plus the reads reconciliation needs (docs/exchanges.md, "For reconciliation")."""

    @property
    def name(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def client(self) -> VenueClientLike: ...

    def bind(self, sink: VenueReportSink) -> None: ...
    def instruments(self) -> list[Instrument]: ...
    def restore(self, working_orders: list[Order], balances: list[Balance]) -> None: ...
    def working_order_ids(self) -> list[str]: ...
    def unresolved_orders(self) -> list[str]: ...
    def mark_trades_seen(self, trade_ids: Iterable[str]) -> None: ...
    async def fetch_balances(self) -> list[Balance]: ...
    async def fetch_open_orders(self, symbol: str | None = None) -> Sequence[VenueOrderView]: ...
    async def find_order(
        self, client_order_id: str, symbol: str, stop: bool = False
    ) -> VenueOrderView | None: ...
    async def fetch_fills(self, symbol: str, since_ms: int | None = None) -> Sequence[VenueFillView]: ...
    async def sync_order(self, order_id: str) -> None: ...


# --- comparisons -------------------------------------------------------------------------------------
def order_state(order: Order) -> dict[str, Any]:
    """The fields a correction changes, JSON-ready (audit before/after)."""
    return {
        "status": order.status.value,
        "filled_quantity": decimal_str(order.filled_quantity),
        "quantity": decimal_str(order.quantity),
        "price": None if order.price is None else decimal_str(order.price),
    }


def venue_filled(found: VenueOrderView) -> Decimal | None:
    """What the venue says filled; an open order it reports no fill quantity for (okx's untriggered
    algo orders) has none."""
    if found.filled is None and found.status is OrderStatus.OPEN:
        return ZERO
    return found.filled


def venue_remaining(found: VenueOrderView) -> Decimal | None:
    filled = venue_filled(found)
    if found.quantity is None or filled is None:
        return None
    return found.quantity - filled


def agrees(order: Order, found: VenueOrderView) -> bool:
    """The venue's open order says what the local working order says. A cancel-replace venue
    (binance) carries an amended order's rest on a new venue order, so what is compared is what is
    left to fill (and, on the first venue order, the filled quantity) plus the limit price."""
    if order.status not in OPEN_STATUSES or found.status not in OPEN_STATUSES:
        return False
    remaining = venue_remaining(found)
    if remaining is None or remaining != order.remaining:
        return False
    if found.venue_order_id == order.venue_order_id and venue_filled(found) != order.filled_quantity:
        return False
    limit = order.limit_price
    return limit is None or found.price is None or found.price == limit


def same_fill(fill: Fill, trade: VenueTradeView) -> bool:
    return (
        fill.side is trade.side
        and fill.quantity == trade.quantity
        and fill.price == trade.price
        and fill.fee == trade.fee
        and fill.fee_asset == trade.fee_asset
    )


# --- what has been booked -----------------------------------------------------------------------------
class FillLedger:
    """Fills booked for one venue (as the OMS applied them), per order, and per symbol the signed
    quantity they add up to. Bounded: the oldest entries are forgotten first."""

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self.fills: OrderedDict[str, Fill] = OrderedDict()
        self.by_order: dict[str, list[str]] = {}
        self.net: dict[str, Decimal] = {}
        self.sequence = 0  # grows with every fill booked: "did anything get booked meanwhile?"

    def add(self, fill: Fill) -> None:
        if fill.fill_id in self.fills:
            return
        self.fills[fill.fill_id] = fill
        self.by_order.setdefault(fill.order_id, []).append(fill.fill_id)
        signed = fill.quantity if fill.side is OrderSide.BUY else -fill.quantity
        self.net[fill.symbol] = self.net.get(fill.symbol, ZERO) + signed
        self.sequence += 1
        while len(self.fills) > self._kept:
            self.fills.popitem(last=False)

    def forget_order(self, order_id: str) -> None:
        self.by_order.pop(order_id, None)

    def recent(self, symbol: str, since_ms: int) -> list[Fill]:
        return [f for f in self.fills.values() if f.symbol == symbol and f.ts >= since_ms]

    def prune(self, before_ms: int) -> None:
        """Forget fills older than every watermark: no listing will show them again."""
        for fill_id in [k for k, f in self.fills.items() if f.ts < before_ms]:
            del self.fills[fill_id]


# --- the outcome of a run ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Correction:
    kind: CorrectionKind
    target: str
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Discrepancy:
    kind: DiscrepancyKind
    target: str
    detail: str

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]

    @property
    def key(self) -> str:
        """Stable across runs: what an operator acknowledges."""
        return f"{self.kind.value}:{self.target}"


@dataclass
class ReconciliationReport:
    """One run against one venue. `discrepancies` are those left open at the end (corrected ones are
    in `corrections`); `failed` says why the run could not finish (the venue could not be read)."""

    venue: str
    trigger: str
    started_ms: int
    finished_ms: int = 0
    corrections: list[Correction] = field(default_factory=list)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    failed: str | None = None
    orders_checked: int = 0
    fills_checked: int = 0
    balances_checked: bool = False
    state: TradingState = TradingState.ACTIVE

    def flag(self, kind: DiscrepancyKind, target: str, detail: str) -> None:
        self.discrepancies.append(Discrepancy(kind, target, detail))

    def open_count(self) -> int:
        """Discrepancies found so far that hold the gate."""
        return sum(1 for d in self.discrepancies if d.severity is not Severity.INFO)

    @property
    def unsettled(self) -> bool:
        """Something our own books lack is still open (balances are not compared then)."""
        return self.failed is not None or any(d.severity is not Severity.INFO for d in self.discrepancies)

    def correction_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(c.kind.value for c in self.corrections).items()))

    def discrepancy_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(d.kind.value for d in self.discrepancies).items()))

    def outcome(self, acknowledged: frozenset[str] = frozenset()) -> tuple[TradingState, str]:
        """The trading state this run leaves the venue in, and why."""
        if self.failed is not None:
            return TradingState.REDUCING, f"reconciliation failed: {self.failed}"
        open_ = [d for d in self.discrepancies if d.key not in acknowledged]
        halting = [d for d in open_ if d.severity is Severity.HALT]
        if halting:
            return TradingState.HALTED, _describe(halting)
        retrying = [d for d in open_ if d.severity is Severity.RETRY]
        if retrying:
            return TradingState.REDUCING, _describe(retrying)
        return TradingState.ACTIVE, "books match the venue"


def _describe(items: list[Discrepancy]) -> str:
    counts = Counter(d.kind.value for d in items)
    text = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    return f"unreconciled: {text} (first: {items[0].target}: {items[0].detail})"


class VenueGate:
    """Trading state per venue, consulted by the OMS before an order is routed (its `venue_gate`
    hook): HALTED refuses every order for the venue, REDUCING only lets through orders that shrink
    the account's position without flipping it (the risk engine's rule), ACTIVE lets all through.
    The risk engine's global state still applies on top. Runs on the engine thread."""

    def __init__(self, view: RiskView, clock: Clock) -> None:
        self._view = view
        self._clock = clock
        self._limits = RiskLimits()  # check_trading_state reads none of them; its signature wants them
        self._states: dict[str, tuple[TradingState, str]] = {}

    def state(self, venue: str) -> TradingState:
        return self._states.get(venue, (TradingState.ACTIVE, ""))[0]

    def reason(self, venue: str) -> str:
        return self._states.get(venue, (TradingState.ACTIVE, ""))[1]

    def snapshot(self) -> dict[str, dict[str, str]]:
        """For /ready, metrics and the API: {venue: {"state": ..., "reason": ...}}."""
        return {v: {"state": s.value, "reason": r} for v, (s, r) in sorted(self._states.items())}

    def set(
        self, venue: str, state: TradingState, reason: str, actor: str
    ) -> VenueTradingStateChanged | None:
        """Switch the venue's state (the reason is always updated); the event to record when the
        state itself changed (or is set for the first time), else None."""
        previous = self._states.get(venue)
        self._states[venue] = (state, reason)
        if previous is not None and previous[0] is state:
            return None
        return VenueTradingStateChanged(self._clock.now_ms(), venue, state.value, reason, actor)

    def check(self, order: Order) -> str | None:
        """The OMS hook: why this order may not go to its venue now, or None."""
        entry = self._states.get(order.venue)
        if entry is None or entry[0] is TradingState.ACTIVE:
            return None
        state, reason = entry
        return check_trading_state(
            order, self._limits, self._view, state=state, reason=f"venue {order.venue}: {reason}"
        )
