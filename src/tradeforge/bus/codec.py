"""Serialization of domain objects and events to JSON-ready primitives (Decimals as strings)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import msgspec

from tradeforge.domain.balances import Balance
from tradeforge.domain.events import Event
from tradeforge.domain.fills import Fill
from tradeforge.domain.orders import Order
from tradeforge.domain.positions import Position
from tradeforge.domain.values import decimal_str

CODEC_VERSION = 1


def iso_ms(ts: int | None) -> str | None:
    """Epoch milliseconds as an ISO 8601 UTC timestamp with millisecond precision."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else decimal_str(value)


def to_primitive(value: Any) -> Any:
    """Recursively turn dataclasses, enums and Decimals into JSON-ready values."""
    if isinstance(value, Decimal):
        return decimal_str(value)
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name.lstrip("_"): to_primitive(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_primitive(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_primitive(v) for v in value]
    return value


def order_to_dict(order: Order) -> dict[str, Any]:
    """The canonical public form of an order (API responses, WebSocket, idempotent replays)."""
    return {
        "id": order.id,
        "client_order_id": order.client_order_id,
        "account_id": order.account_id,
        "venue": order.venue,
        "venue_order_id": order.venue_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "time_in_force": order.time_in_force.value,
        "quantity": decimal_str(order.quantity),
        "price": _dec(order.price),
        "stop_price": _dec(order.stop_price),
        "expire_at": iso_ms(order.expire_at),
        "status": order.status.value,
        "filled_quantity": decimal_str(order.filled_quantity),
        "remaining_quantity": decimal_str(order.remaining),
        "average_price": _dec(order.average_price),
        "fees": decimal_str(order.fees),
        "triggered": order.triggered,
        "reject_reason": order.reject_reason,
        "strategy_id": order.strategy_id,
        "created_at": iso_ms(order.created_at),
        "updated_at": iso_ms(order.updated_at),
    }


def fill_to_dict(fill: Fill) -> dict[str, Any]:
    return {
        "id": fill.fill_id,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "account_id": fill.account_id,
        "venue": fill.venue,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "quantity": decimal_str(fill.quantity),
        "price": decimal_str(fill.price),
        "notional": decimal_str(fill.notional),
        "fee": decimal_str(fill.fee),
        "fee_asset": fill.fee_asset,
        "liquidity": fill.liquidity.value,
        "strategy_id": fill.strategy_id,
        "ts": iso_ms(fill.ts),
    }


def position_to_dict(position: Position, mark: Decimal | None) -> dict[str, Any]:
    return {
        "account_id": position.account_id,
        "symbol": position.symbol,
        "quantity": decimal_str(position.quantity),
        "side": "long" if position.quantity > 0 else "short" if position.quantity < 0 else "flat",
        "average_price": _dec(position.average_price),
        "cost_basis": decimal_str(position.cost_basis),
        "mark_price": _dec(mark),
        "realized_pnl": decimal_str(position.realized_pnl),
        "unrealized_pnl": decimal_str(position.unrealized_pnl(mark)),
        "fees": decimal_str(position.fees),
        "updated_at": iso_ms(position.updated_at),
    }


def balance_to_dict(balance: Balance, locked: Decimal) -> dict[str, Any]:
    return {
        "account_id": balance.account_id,
        "asset": balance.asset,
        "total": decimal_str(balance.total),
        "locked": decimal_str(locked),
        "free": decimal_str(balance.total - locked),
        "updated_at": iso_ms(balance.updated_at),
    }


def event_type(event: Event) -> str:
    return type(event).__name__


_FIELD_NAMES: dict[type, tuple[tuple[str, str], ...]] = {}


def _fast_primitive(value: Any) -> Any:
    """to_primitive for the hot path: field names cached per class, common scalars first."""
    kind = type(value)
    if kind is str or kind is int or value is None or kind is bool:
        return value
    if kind is Decimal:
        return decimal_str(value)
    if isinstance(value, Enum):
        return value.value
    names = _FIELD_NAMES.get(kind)
    if names is None:
        if not dataclasses.is_dataclass(value):
            return to_primitive(value)
        names = _FIELD_NAMES[kind] = tuple((f.name, f.name.lstrip("_")) for f in dataclasses.fields(value))
    return {public: _fast_primitive(getattr(value, name)) for name, public in names}


_ENCODER = msgspec.json.Encoder(decimal_format="string")


def encode_event(event: Event) -> str:
    """The outbox payload of an event: the same JSON as `dumps(event_to_dict(event))`, encoded in C
    (an order's three events are on every order's hot path)."""
    return _ENCODER.encode({"type": type(event).__name__, "version": CODEC_VERSION, "data": event}).decode()


def event_to_dict(event: Event) -> dict[str, Any]:
    return {"type": event_type(event), "version": CODEC_VERSION, "data": _fast_primitive(event)}


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=_default)


def _default(value: Any) -> Any:
    primitive = to_primitive(value)
    if primitive is value:
        raise TypeError(f"cannot serialize {type(value).__name__}")
    return primitive


def json_loads(text: str) -> Any:
    return json.loads(text)
