"""Commands as frozen dataclasses: the requests the engines handle, each by exactly one handler."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderType, TimeInForce


@dataclass(frozen=True, slots=True)
class Command:
    pass


@dataclass(frozen=True, slots=True)
class SubmitOrder(Command):
    account_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    quantity: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_at: int | None = None
    venue: str = "paper"
    strategy_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelOrder(Command):
    account_id: str
    order_id: str
    reason: str = "cancelled by user"


@dataclass(frozen=True, slots=True)
class AmendOrder(Command):
    account_id: str
    order_id: str
    quantity: Decimal | None = None
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CancelAllOrders(Command):
    account_id: str | None
    symbol: str | None = None
    strategy_id: str | None = None
    reason: str = "cancel all"


@dataclass(frozen=True, slots=True)
class SetTradingState(Command):
    """The kill switch: halted refuses every new order, reducing only position-reducing ones."""

    state: str
    reason: str
    actor: str
    cancel_open_orders: bool | None = None  # None: follow the risk limit cancel_open_orders_on_halt


@dataclass(frozen=True, slots=True)
class UpdateRiskLimits(Command):
    changes: dict[str, Any] = field(default_factory=dict)
    actor: str = "system"
