"""Events as frozen dataclasses: what happened to orders, positions, balances and risk state."""

# Compiled in the mypyc build (ADR 7): several are built per order. Interpreted code may subclass
# Event (reconciliation and strategy events do), hence allow_interpreted_subclasses; the events made
# on every order write their __init__ out, as a dataclass-generated one stays interpreted.
# A subclass defined elsewhere must not be slots=True: dataclass would give it slots of its own for
# the base's fields (it cannot see a compiled class's), which compiled readers of `ts` never see.

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mypy_extensions import mypyc_attr

from tradeforge.domain.copies import Reduction, reduce_fields
from tradeforge.domain.fills import Fill


@mypyc_attr(allow_interpreted_subclasses=True)
@dataclass(frozen=True, slots=True)
class Event:
    ts: int

    def __reduce__(self) -> Reduction:
        # compiled, the default reduce (empty object, then fields) cannot build these: see copies
        return reduce_fields(self)


@mypyc_attr(allow_interpreted_subclasses=True)
@dataclass(frozen=True, slots=True)
class OrderEvent(Event):
    order_id: str


@dataclass(frozen=True, slots=True)
class OrderSubmitted(OrderEvent):
    """The OMS accepted the command and created the order in status pending."""

    client_order_id: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    time_in_force: str
    venue: str
    strategy_id: str | None

    def __init__(
        self,
        ts: int,
        order_id: str,
        client_order_id: str,
        symbol: str,
        side: str,
        type: str,
        quantity: Decimal,
        price: Decimal | None,
        stop_price: Decimal | None,
        time_in_force: str,
        venue: str,
        strategy_id: str | None,
    ) -> None:
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "order_id", order_id)
        object.__setattr__(self, "client_order_id", client_order_id)
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "quantity", quantity)
        object.__setattr__(self, "price", price)
        object.__setattr__(self, "stop_price", stop_price)
        object.__setattr__(self, "time_in_force", time_in_force)
        object.__setattr__(self, "venue", venue)
        object.__setattr__(self, "strategy_id", strategy_id)


@dataclass(frozen=True, slots=True)
class OrderAccepted(OrderEvent):
    venue_order_id: str

    def __init__(
        self,
        ts: int,
        order_id: str,
        venue_order_id: str,
    ) -> None:
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "order_id", order_id)
        object.__setattr__(self, "venue_order_id", venue_order_id)


@dataclass(frozen=True, slots=True)
class OrderRejected(OrderEvent):
    reason: str


@dataclass(frozen=True, slots=True)
class OrderFilled(OrderEvent):
    """A partial or complete execution; the order computes which from its cumulative quantity."""

    fill: Fill

    def __init__(
        self,
        ts: int,
        order_id: str,
        fill: Fill,
    ) -> None:
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "order_id", order_id)
        object.__setattr__(self, "fill", fill)


@dataclass(frozen=True, slots=True)
class OrderCancelled(OrderEvent):
    reason: str = "cancelled"


@dataclass(frozen=True, slots=True)
class OrderExpired(OrderEvent):
    reason: str = "expired"


@dataclass(frozen=True, slots=True)
class OrderAmended(OrderEvent):
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None


@dataclass(frozen=True, slots=True)
class OrderTriggered(OrderEvent):
    """A stop or stop-limit order's stop price was reached; it now works as market or limit."""


@dataclass(frozen=True, slots=True)
class PositionChanged(Event):
    account_id: str
    symbol: str
    quantity: Decimal
    average_price: Decimal | None
    realized_pnl: Decimal

    def __init__(
        self,
        ts: int,
        account_id: str,
        symbol: str,
        quantity: Decimal,
        average_price: Decimal | None,
        realized_pnl: Decimal,
    ) -> None:
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "account_id", account_id)
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "quantity", quantity)
        object.__setattr__(self, "average_price", average_price)
        object.__setattr__(self, "realized_pnl", realized_pnl)


@dataclass(frozen=True, slots=True)
class BalanceChanged(Event):
    account_id: str
    asset: str
    total: Decimal

    def __init__(
        self,
        ts: int,
        account_id: str,
        asset: str,
        total: Decimal,
    ) -> None:
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "account_id", account_id)
        object.__setattr__(self, "asset", asset)
        object.__setattr__(self, "total", total)


@dataclass(frozen=True, slots=True)
class TradingStateChanged(Event):
    state: str
    reason: str
    actor: str


@dataclass(frozen=True, slots=True)
class RiskLimitsChanged(Event):
    actor: str
    changes: dict[str, Any] = field(default_factory=dict)
