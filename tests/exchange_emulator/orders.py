"""The emulator's venue-neutral vocabulary: sides, kinds, statuses, orders, fills, balances, rejections."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)
FEE_QUANTUM = Decimal("0.00000001")
FEE_SLACK = Decimal("0.000001")


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class Kind(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"  # trigger, then market (also take-profit market: see trigger_rises)
    STOP_LIMIT = "stop_limit"


class Status(enum.StrEnum):
    UNTRIGGERED = "untriggered"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"  # IOC/FOK remainder, or a triggered stop that could not be paid for


OPEN_STATUSES = frozenset({Status.UNTRIGGERED, Status.NEW, Status.PARTIALLY_FILLED})


class TimeInForce(enum.StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    POST_ONLY = "POST_ONLY"


class Reject(enum.StrEnum):
    INSUFFICIENT_BALANCE = "insufficient_balance"
    UNKNOWN_ORDER = "unknown_order"
    ORDER_CLOSED = "order_closed"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    BAD_QUANTITY = "bad_quantity"
    BAD_PRICE = "bad_price"
    MIN_NOTIONAL = "min_notional"
    WOULD_TRIGGER = "would_trigger_immediately"
    WOULD_TAKE = "post_only_would_take"
    FOK_UNFILLED = "fok_unfilled"


class Rejected(Exception):
    """The venue refuses a request; the venue module turns `reason` into its own error body."""

    def __init__(self, reason: Reject, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason
        self.detail = detail


class InvariantViolation(AssertionError):
    """The emulator's own books broke a rule (a bug in the emulator, never a venue answer)."""


@dataclass
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True)
class Fill:
    trade_id: str
    seq: int
    order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    maker: bool
    ts_ms: int

    @property
    def quote_quantity(self) -> Decimal:
        return self.price * self.quantity


@dataclass
class Order:
    order_id: str
    seq: int
    client_order_id: str | None
    symbol: str
    side: Side
    kind: Kind
    quantity: Decimal  # base units; for a quote-sized market buy, what was bought
    price: Decimal | None
    time_in_force: TimeInForce
    created_ms: int
    updated_ms: int
    status: Status = Status.NEW
    trigger_price: Decimal | None = None
    trigger_rises: bool | None = None
    take_profit: bool = False
    quote_quantity: Decimal | None = None  # market buy sized in quote currency
    filled: Decimal = ZERO
    cost: Decimal = ZERO
    fee: Decimal = ZERO
    fee_asset: str | None = None
    reserved: Decimal = ZERO
    reserve_asset: str | None = None
    triggered_ms: int | None = None
    amendments: int = 0
    fills: list[Fill] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # venue fields echoed back (userref, marketUnit...)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return max(ZERO, self.quantity - self.filled) if self.is_open else ZERO

    @property
    def leaves(self) -> Decimal:
        """Unfilled quantity regardless of status (what a venue reports as leavesQty before closing)."""
        return max(ZERO, self.quantity - self.filled)

    @property
    def average(self) -> Decimal | None:
        return self.cost / self.filled if self.filled else None

    @property
    def is_trigger(self) -> bool:
        return self.kind in (Kind.STOP_MARKET, Kind.STOP_LIMIT)


@dataclass(frozen=True)
class NewOrder:
    """A venue-neutral order request."""

    symbol: str
    side: Side
    kind: Kind
    quantity: Decimal | None
    price: Decimal | None = None
    client_order_id: str | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    trigger_price: Decimal | None = None
    take_profit: bool = False
    quote_quantity: Decimal | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VenueRules:
    """What differs between venues in the books themselves (the payloads differ in the venue modules)."""

    order_id: Callable[[int], str]
    trade_id: Callable[[int], str]
    fee_in_quote: bool = False  # Kraken: fees in quote on both sides; others: in the asset received
    client_id_scope: str = "open"  # "open": unique among open orders; "all": never reusable
    reject_immediate_trigger: bool = False  # Binance refuses a stop that would trigger at once
    fee_quantum: Decimal = FEE_QUANTUM  # fees are rounded half-up to this


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000
