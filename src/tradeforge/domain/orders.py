"""Orders and the one transition table through which their status may change."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from tradeforge.domain.copies import Reduction, reduce_fields
from tradeforge.domain.errors import InvalidTransition, OrderNotAmendable, ValidationError
from tradeforge.domain.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
)
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.values import ZERO


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"


class OrderStatus(StrEnum):
    PENDING = "pending"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_working(self) -> bool:
        return self in WORKING_STATUSES


TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
WORKING_STATUSES = frozenset({OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})

_S = OrderStatus
_FILL_TARGETS = frozenset({_S.PARTIALLY_FILLED, _S.FILLED})

# The transition table: (current status, event type) -> the statuses that event may lead to.
# Anything absent is illegal and raises InvalidTransition.
TRANSITIONS: dict[tuple[OrderStatus, type[OrderEvent]], frozenset[OrderStatus]] = {
    (_S.PENDING, OrderAccepted): frozenset({_S.OPEN}),
    (_S.PENDING, OrderRejected): frozenset({_S.REJECTED}),
    (_S.PENDING, OrderFilled): _FILL_TARGETS,
    (_S.PENDING, OrderCancelled): frozenset({_S.CANCELLED}),
    (_S.PENDING, OrderExpired): frozenset({_S.EXPIRED}),
    (_S.OPEN, OrderFilled): _FILL_TARGETS,
    (_S.OPEN, OrderCancelled): frozenset({_S.CANCELLED}),
    (_S.OPEN, OrderExpired): frozenset({_S.EXPIRED}),
    (_S.OPEN, OrderAmended): frozenset({_S.OPEN}),
    (_S.OPEN, OrderTriggered): frozenset({_S.OPEN}),
    (_S.PARTIALLY_FILLED, OrderFilled): _FILL_TARGETS,
    (_S.PARTIALLY_FILLED, OrderCancelled): frozenset({_S.CANCELLED}),
    (_S.PARTIALLY_FILLED, OrderExpired): frozenset({_S.EXPIRED}),
    (_S.PARTIALLY_FILLED, OrderAmended): frozenset({_S.PARTIALLY_FILLED}),
}


@dataclass(slots=True, eq=False)
class Order:
    """An order. Its status, fills and amendments change only through `apply`."""

    id: str
    client_order_id: str
    account_id: str
    venue: str
    symbol: str
    side: OrderSide
    type: OrderType
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    time_in_force: TimeInForce
    expire_at: int | None
    strategy_id: str | None
    created_at: int
    updated_at: int
    _status: OrderStatus = OrderStatus.PENDING
    filled_quantity: Decimal = ZERO
    filled_notional: Decimal = ZERO
    fees: Decimal = ZERO
    venue_order_id: str | None = None
    reject_reason: str | None = None
    triggered: bool = False
    version: int = 0

    def __init__(
        self,
        id: str,
        client_order_id: str,
        account_id: str,
        venue: str,
        symbol: str,
        side: OrderSide,
        type: OrderType,
        quantity: Decimal,
        price: Decimal | None,
        stop_price: Decimal | None,
        time_in_force: TimeInForce,
        expire_at: int | None,
        strategy_id: str | None,
        created_at: int,
        updated_at: int,
        _status: OrderStatus = OrderStatus.PENDING,
        filled_quantity: Decimal = ZERO,
        filled_notional: Decimal = ZERO,
        fees: Decimal = ZERO,
        venue_order_id: str | None = None,
        reject_reason: str | None = None,
        triggered: bool = False,
        version: int = 0,
    ) -> None:
        # Written out: compiled, an explicit __init__ is native code and the dataclass one is not
        # (ADR 7; one per order). The fields above stay the record's declaration.
        self.id = id
        self.client_order_id = client_order_id
        self.account_id = account_id
        self.venue = venue
        self.symbol = symbol
        self.side = side
        self.type = type
        self.quantity = quantity
        self.price = price
        self.stop_price = stop_price
        self.time_in_force = time_in_force
        self.expire_at = expire_at
        self.strategy_id = strategy_id
        self.created_at = created_at
        self.updated_at = updated_at
        self._status = _status
        self.filled_quantity = filled_quantity
        self.filled_notional = filled_notional
        self.fees = fees
        self.venue_order_id = venue_order_id
        self.reject_reason = reject_reason
        self.triggered = triggered
        self.version = version

    def __reduce__(self) -> Reduction:
        return reduce_fields(self)

    @property
    def status(self) -> OrderStatus:
        return self._status

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def average_price(self) -> Decimal | None:
        if self.filled_quantity == ZERO:
            return None
        return self.filled_notional / self.filled_quantity

    @property
    def is_working(self) -> bool:
        return self._status in WORKING_STATUSES

    @property
    def limit_price(self) -> Decimal | None:
        """The price the order may not trade through, if any (limit and stop-limit)."""
        return self.price if self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None

    def apply(self, event: OrderEvent) -> None:
        allowed = TRANSITIONS.get((self._status, type(event)))
        if allowed is None or event.order_id != self.id:
            raise InvalidTransition(self.id, self._status.value, type(event).__name__)
        target = next(iter(allowed)) if len(allowed) == 1 else None
        if isinstance(event, OrderFilled):
            target = self._apply_fill(event)
        elif isinstance(event, OrderAccepted):
            self.venue_order_id = event.venue_order_id
        elif isinstance(event, OrderRejected):
            self.reject_reason = event.reason
        elif isinstance(event, OrderAmended):
            self._apply_amend(event)
        elif isinstance(event, OrderTriggered):
            if self.triggered or self.type not in (OrderType.STOP, OrderType.STOP_LIMIT):
                raise InvalidTransition(
                    self.id, self._status.value, "OrderTriggered(not an untriggered stop)"
                )
            self.triggered = True
        assert target is not None and target in allowed
        self._status = target
        self.updated_at = max(self.updated_at, event.ts)
        self.version += 1

    def _apply_fill(self, event: OrderFilled) -> OrderStatus:
        fill = event.fill
        if fill.quantity <= ZERO:
            raise InvalidTransition(self.id, self._status.value, "OrderFilled(non-positive quantity)")
        if self.filled_quantity + fill.quantity > self.quantity:
            raise InvalidTransition(self.id, self._status.value, "OrderFilled(overfill)")
        if fill.side is not self.side:
            raise InvalidTransition(self.id, self._status.value, "OrderFilled(wrong side)")
        self.filled_quantity += fill.quantity
        self.filled_notional += fill.quantity * fill.price
        self.fees += fill.fee
        return OrderStatus.FILLED if self.filled_quantity == self.quantity else OrderStatus.PARTIALLY_FILLED

    def _apply_amend(self, event: OrderAmended) -> None:
        if event.quantity <= self.filled_quantity:
            raise InvalidTransition(self.id, self._status.value, "OrderAmended(quantity not above filled)")
        self.quantity = event.quantity
        self.price = event.price
        self.stop_price = event.stop_price

    def submitted_event(self, ts: int) -> OrderSubmitted:
        """The event that records this order's creation (what the OMS, and reconciliation when it
        adopts a venue order, write first)."""
        return OrderSubmitted(
            ts,
            self.id,
            self.client_order_id,
            self.symbol,
            # str() of a StrEnum is its value, without the enum module's interpreted property.
            str(self.side),
            str(self.type),
            self.quantity,
            self.price,
            self.stop_price,
            str(self.time_in_force),
            self.venue,
            self.strategy_id,
        )

    def check_amendable(self, quantity: Decimal | None, price: Decimal | None) -> None:
        """Refuse an amend the transition table or the order type would not take, before any venue call."""
        if not self.is_working or self._status is OrderStatus.PENDING:
            raise OrderNotAmendable(f"order {self.id} is {self._status.value} and cannot be amended")
        if quantity is not None and quantity <= self.filled_quantity:
            raise ValidationError("quantity", f"must be above the filled quantity {self.filled_quantity}")
        if price is not None and self.type in (OrderType.MARKET, OrderType.STOP):
            raise ValidationError("price", f"a {self.type.value} order has no limit price to amend")


def transition_allowed(status: OrderStatus, event_type: type[OrderEvent]) -> bool:
    return (status, event_type) in TRANSITIONS
