"""Commands as frozen dataclasses: the requests the engines handle, each by exactly one handler."""

# Compiled in the mypyc build (ADR 7), as events are: Command may be subclassed by interpreted code,
# and SubmitOrder, made for every order, writes its __init__ out. Subclasses defined elsewhere must
# not be slots=True (see domain/events.py).

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mypy_extensions import mypyc_attr

from tradeforge.domain.copies import Reduction, reduce_fields
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderType, TimeInForce


@mypyc_attr(allow_interpreted_subclasses=True)
@dataclass(frozen=True, slots=True)
class Command:
    def __reduce__(self) -> Reduction:
        return reduce_fields(self)


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

    def __init__(
        self,
        account_id: str,
        client_order_id: str,
        symbol: str,
        side: OrderSide,
        type: OrderType,
        quantity: Decimal,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_at: int | None = None,
        venue: str = "paper",
        strategy_id: str | None = None,
    ) -> None:
        object.__setattr__(self, "account_id", account_id)
        object.__setattr__(self, "client_order_id", client_order_id)
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "quantity", quantity)
        object.__setattr__(self, "price", price)
        object.__setattr__(self, "stop_price", stop_price)
        object.__setattr__(self, "time_in_force", time_in_force)
        object.__setattr__(self, "expire_at", expire_at)
        object.__setattr__(self, "venue", venue)
        object.__setattr__(self, "strategy_id", strategy_id)


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
