"""Events as frozen dataclasses: what happened to orders, positions, balances and risk state."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tradeforge.domain.fills import Fill


@dataclass(frozen=True, slots=True)
class Event:
    ts: int


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


@dataclass(frozen=True, slots=True)
class OrderAccepted(OrderEvent):
    venue_order_id: str


@dataclass(frozen=True, slots=True)
class OrderRejected(OrderEvent):
    reason: str


@dataclass(frozen=True, slots=True)
class OrderFilled(OrderEvent):
    """A partial or complete execution; the order computes which from its cumulative quantity."""

    fill: Fill


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


@dataclass(frozen=True, slots=True)
class BalanceChanged(Event):
    account_id: str
    asset: str
    total: Decimal


@dataclass(frozen=True, slots=True)
class TradingStateChanged(Event):
    state: str
    reason: str
    actor: str


@dataclass(frozen=True, slots=True)
class RiskLimitsChanged(Event):
    actor: str
    changes: dict[str, Any] = field(default_factory=dict)
