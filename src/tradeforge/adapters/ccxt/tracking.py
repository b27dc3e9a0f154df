"""What the adapter remembers per order: venue ids (several after cancel-replace), reported fills, flags."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import Order, OrderStatus, OrderType, TimeInForce
from tradeforge.domain.values import ZERO

STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})


class ReplaceInDoubt(NamedTuple):
    """A cancel-replace amend whose outcome is unknown: the original, and what was asked for."""

    old_id: str
    quantity: Decimal
    price: Decimal | None


@dataclass(slots=True, eq=False)
class TrackedOrder:
    """The adapter's record of one of our orders. It never changes the OMS's Order object.

    venue_order_ids: every venue order that carried this order, oldest first; the last is live (a
        cancel-replace amend adds one; our order id and client order id stay the same).
    filled_by_venue_id: fill quantity already reported, per venue order.
    baseline: after a restart, quantity the OMS had booked before (their trade ids are unknown). On
        the first follow (restored=True) the oldest trades of every known venue order, up to this
        quantity, are taken as already reported; what is left stays booked, never matched again.
    unresolved: a create whose outcome is unknown (the lookup by client id could not be made yet).
    replace_in_doubt: a cancel-replace amend whose outcome is unknown (unresolved is set): the
        lookup by client id decides whether its replacement became the live order.
    amend_in_doubt: an amend was refused after a failure that may have applied it (its answer was
        lost): until a fresh read of the venue's order (sync_order) settles it, trades beyond the
        quantity known here are expected, and wait unbooked.
    done: a terminal event was reported (or the order filled completely)."""

    order_id: str
    client_order_id: str
    venue_client_id: str
    account_id: str
    strategy_id: str | None
    symbol: str
    side: OrderSide
    type: OrderType
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    time_in_force: TimeInForce
    expire_at: int | None
    created_at: int
    venue_order_ids: list[str] = field(default_factory=list)
    filled_by_venue_id: dict[str, Decimal] = field(default_factory=dict)
    baseline: Decimal = ZERO
    restored: bool = False
    accepted: bool = False
    unresolved: bool = False
    amend_in_doubt: bool = False
    replace_in_doubt: ReplaceInDoubt | None = None
    done: bool = False
    triggered: bool = False
    cancel_requested: bool = False
    expiring: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def from_order(cls, order: Order, venue_client_id: str) -> TrackedOrder:
        tracked = cls(
            order_id=order.id,
            client_order_id=order.client_order_id,
            venue_client_id=venue_client_id,
            account_id=order.account_id,
            strategy_id=order.strategy_id,
            symbol=order.symbol,
            side=order.side,
            type=order.type,
            quantity=order.quantity,
            price=order.price,
            stop_price=order.stop_price,
            time_in_force=order.time_in_force,
            expire_at=order.expire_at,
            created_at=order.created_at,
            triggered=order.triggered,
        )
        if order.status is not OrderStatus.PENDING:
            tracked.accepted = True
            tracked.baseline = order.filled_quantity
            tracked.restored = order.filled_quantity > ZERO
            if order.venue_order_id:
                tracked.venue_order_ids.append(order.venue_order_id)
        return tracked

    @property
    def venue_order_id(self) -> str | None:
        return self.venue_order_ids[-1] if self.venue_order_ids else None

    @property
    def filled(self) -> Decimal:
        return sum(self.filled_by_venue_id.values(), ZERO) + self.baseline

    @property
    def is_stop(self) -> bool:
        return self.type in STOP_TYPES

    @property
    def untriggered_stop(self) -> bool:
        return self.is_stop and not self.triggered

    @property
    def ccxt_type(self) -> str:
        return "limit" if self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else "market"
