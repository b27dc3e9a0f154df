"""Pre-trade risk limits (validated settings) and the pure rules that check one order against them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol

from tradeforge.domain.errors import UnknownInstrument, ValidationError
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.identifiers import Symbol
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order
from tradeforge.domain.values import ONE, ZERO, decimal_str, to_decimal

THROTTLE_WINDOW_MS: Final = 1000


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


SYMBOL_LIMIT_FIELDS: Final = ("max_order_quantity", "max_order_notional", "max_position")
RISK_LIMIT_FIELDS: Final = (
    "default",
    "per_symbol",
    "price_band",
    "max_open_orders",
    "max_submits_per_second",
    "check_balance",
    "cancel_open_orders_on_halt",
)


def _valid_decimal(value: object, path: str) -> None:
    """Guard for direct construction: typed callers must still not smuggle in floats or negatives."""
    if value is None:
        return
    if not isinstance(value, Decimal):
        raise ValidationError(path, f"expected a Decimal or None, got {type(value).__name__}")
    if not value.is_finite() or value < ZERO:
        raise ValidationError(path, "must be a finite, non-negative number")


def _valid_count(value: object, path: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(path, f"expected an integer or None, got {type(value).__name__}")
    if value < 0:
        raise ValidationError(path, "must not be negative")


@dataclass(frozen=True, slots=True)
class SymbolLimits:
    """Per-order and per-position limits; None means no limit (or, in a per-symbol entry, 'inherit')."""

    max_order_quantity: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_position: Decimal | None = None

    def __post_init__(self) -> None:
        for name in SYMBOL_LIMIT_FIELDS:
            _valid_decimal(getattr(self, name), name)

    def over(self, base: SymbolLimits) -> SymbolLimits:
        """These limits with every unset (None) field taken from base."""
        return SymbolLimits(
            self.max_order_quantity if self.max_order_quantity is not None else base.max_order_quantity,
            self.max_order_notional if self.max_order_notional is not None else base.max_order_notional,
            self.max_position if self.max_position is not None else base.max_position,
        )

    def to_dict(self) -> dict[str, str | None]:
        return {name: _dec_or_none(getattr(self, name)) for name in SYMBOL_LIMIT_FIELDS}


def _empty_symbol_map() -> Mapping[str, SymbolLimits]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Every pre-trade limit. Immutable: an update builds a new instance (see `merged`)."""

    default: SymbolLimits = SymbolLimits()
    per_symbol: Mapping[str, SymbolLimits] = field(default_factory=_empty_symbol_map, hash=False)
    price_band: Decimal | None = Decimal("0.2")
    max_open_orders: int | None = 200
    max_submits_per_second: int | None = 50
    check_balance: bool = True
    cancel_open_orders_on_halt: bool = True
    # Per-symbol entries already merged over default, so the hot path does one dict lookup.
    _effective: Mapping[str, SymbolLimits] = field(
        init=False, repr=False, compare=False, default_factory=_empty_symbol_map
    )

    def __post_init__(self) -> None:
        if not isinstance(self.default, SymbolLimits):
            raise ValidationError("default", "expected SymbolLimits")
        _valid_decimal(self.price_band, "price_band")
        _valid_count(self.max_open_orders, "max_open_orders")
        _valid_count(self.max_submits_per_second, "max_submits_per_second")
        for name in ("check_balance", "cancel_open_orders_on_halt"):
            if not isinstance(getattr(self, name), bool):
                raise ValidationError(name, "expected true or false")
        if not isinstance(self.per_symbol, Mapping):
            raise ValidationError("per_symbol", "expected a mapping of symbol to SymbolLimits")
        canonical: dict[str, SymbolLimits] = {}
        for key, entry in self.per_symbol.items():
            symbol = _canonical_symbol(key, f"per_symbol.{key}")
            if symbol in canonical:
                raise ValidationError(f"per_symbol.{key}", f"duplicate entry for {symbol}")
            if not isinstance(entry, SymbolLimits):
                raise ValidationError(f"per_symbol.{key}", "expected SymbolLimits")
            canonical[symbol] = entry
        object.__setattr__(self, "per_symbol", MappingProxyType(canonical))
        effective = {symbol: entry.over(self.default) for symbol, entry in canonical.items()}
        object.__setattr__(self, "_effective", MappingProxyType(effective))

    def for_symbol(self, symbol: str) -> SymbolLimits:
        """The limits in force for symbol: its per-symbol entry merged field by field over default."""
        return self._effective.get(symbol, self.default)

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": self.default.to_dict(),
            "per_symbol": {symbol: self.per_symbol[symbol].to_dict() for symbol in sorted(self.per_symbol)},
            "price_band": _dec_or_none(self.price_band),
            "max_open_orders": self.max_open_orders,
            "max_submits_per_second": self.max_submits_per_second,
            "check_balance": self.check_balance,
            "cancel_open_orders_on_halt": self.cancel_open_orders_on_halt,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RiskLimits:
        """Strictly parse settings (the JSON shape of `to_dict`); absent keys take their defaults."""
        return cls().merged(data)

    def merged(self, changes: Mapping[str, Any]) -> RiskLimits:
        """A copy with changes applied as a JSON merge patch: `default` and each `per_symbol` entry
        merge field by field, a per_symbol entry set to null is removed, other keys are replaced."""
        if not isinstance(changes, Mapping):
            raise ValidationError("limits", "expected an object")
        updates: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "default":
                updates[key] = _parse_symbol_limits(value, "default", self.default)
            elif key == "per_symbol":
                updates[key] = _parse_per_symbol(value, self.per_symbol)
            elif key == "price_band":
                updates[key] = _parse_decimal(value, key)
            elif key in ("max_open_orders", "max_submits_per_second"):
                updates[key] = _parse_count(value, key)
            elif key in ("check_balance", "cancel_open_orders_on_halt"):
                if not isinstance(value, bool):
                    raise ValidationError(key, f"expected true or false, got {_type_name(value)}")
                updates[key] = value
            else:
                raise ValidationError(
                    str(key), f"unknown setting; expected one of {', '.join(RISK_LIMIT_FIELDS)}"
                )
        return replace(self, **updates) if updates else self


def _dec_or_none(value: Decimal | None) -> str | None:
    return None if value is None else decimal_str(value)


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _canonical_symbol(key: object, path: str) -> str:
    if not isinstance(key, str):
        raise ValidationError(path, "symbol must be a string like 'BTC/USDT'")
    try:
        return str(Symbol.parse(key))
    except ValidationError as error:
        raise ValidationError(path, error.message) from None


def _parse_decimal(value: object, path: str) -> Decimal | None:
    if value is None:
        return None
    result = to_decimal(value, path)
    if result < ZERO:
        raise ValidationError(path, "must not be negative")
    return result


def _parse_count(value: object, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(path, f"expected an integer or null, got {_type_name(value)}")
    if value < 0:
        raise ValidationError(path, "must not be negative")
    return value


def _parse_symbol_limits(value: object, path: str, base: SymbolLimits) -> SymbolLimits:
    if isinstance(value, SymbolLimits):
        return value
    if not isinstance(value, Mapping):
        raise ValidationError(path, f"expected an object, got {_type_name(value)}")
    parsed: dict[str, Decimal | None] = {}
    for key, item in value.items():
        if key not in SYMBOL_LIMIT_FIELDS:
            raise ValidationError(
                f"{path}.{key}", f"unknown setting; expected one of {', '.join(SYMBOL_LIMIT_FIELDS)}"
            )
        parsed[key] = _parse_decimal(item, f"{path}.{key}")
    return replace(base, **parsed)


def _parse_per_symbol(value: object, current: Mapping[str, SymbolLimits]) -> dict[str, SymbolLimits]:
    if not isinstance(value, Mapping):
        raise ValidationError("per_symbol", f"expected an object keyed by symbol, got {_type_name(value)}")
    result = dict(current)
    seen: set[str] = set()
    for key, entry in value.items():
        path = f"per_symbol.{key}"
        symbol = _canonical_symbol(key, path)
        if symbol in seen:
            raise ValidationError(path, f"duplicate entry for {symbol}")
        seen.add(symbol)
        if entry is None:
            result.pop(symbol, None)
        else:
            result[symbol] = _parse_symbol_limits(entry, path, current.get(symbol, SymbolLimits()))
    return result


class RiskView(Protocol):
    """What the risk engine reads about the account and market; implemented by the portfolio/OMS."""

    def instrument(self, symbol: str) -> Instrument: ...

    def last_price(self, symbol: str) -> Decimal | None: ...

    def position_quantity(self, account_id: str, symbol: str) -> Decimal:
        """Signed: long > 0."""
        ...

    def working_orders(self, account_id: str) -> Sequence[Order]:
        """pending/open/partially_filled orders of the account, not including the order being checked."""
        ...

    def available_balance(self, account_id: str, asset: str) -> Decimal:
        """Total minus what working orders reserve."""
        ...


class _Unset(Enum):
    TOKEN = 0


# None is a meaningful last price ("unknown"), so "not supplied by the caller" needs its own marker.
_UNSET: Final = _Unset.TOKEN
LastPrice = Decimal | None | Literal[_Unset.TOKEN]


def reference_price(order: Order, last_price: Decimal | None) -> Decimal | None:
    """The price an order is valued at: its limit price, else its stop price, else the last price."""
    price = order.limit_price
    if price is not None:
        return price
    if order.stop_price is not None:
        return order.stop_price
    return last_price


def _same_side_remaining(order: Order, working: Sequence[Order]) -> Decimal:
    symbol, side = order.symbol, order.side
    total = ZERO
    for other in working:
        if other.side is side and other.symbol == symbol:
            total += other.remaining
    return total


def check_trading_state(
    order: Order,
    limits: RiskLimits,
    view: RiskView,
    *,
    state: TradingState,
    reason: str = "",
    position: Decimal | None = None,
    working: Sequence[Order] | None = None,
) -> str | None:
    """HALTED refuses everything; REDUCING accepts only orders that shrink the position without flipping
    it, counting what same-side working orders will already take off."""
    if state is TradingState.ACTIVE:
        return None
    if state is TradingState.HALTED:
        return f"trading is halted: {reason}" if reason else "trading is halted"
    prefix = f"trading is reducing only ({reason})" if reason else "trading is reducing only"
    if position is None:
        position = view.position_quantity(order.account_id, order.symbol)
    side, symbol = order.side.value, order.symbol
    if position == ZERO:
        return f"{prefix}: no {symbol} position to reduce"
    if (position > ZERO) == (order.side is OrderSide.BUY):
        return (
            f"{prefix}: {side} {decimal_str(order.remaining)} {symbol} would increase position "
            f"{decimal_str(position)}"
        )
    if working is None:
        working = view.working_orders(order.account_id)
    already = _same_side_remaining(order, working)
    if already + order.remaining > abs(position):
        return (
            f"{prefix}: {side} {decimal_str(order.remaining)} {symbol} with {decimal_str(already)} already "
            f"working would flip position {decimal_str(position)}"
        )
    return None


def check_throttle(order: Order, limits: RiskLimits, view: RiskView, *, submits_in_window: int) -> str | None:
    """submits_in_window: orders of this account accepted within the last THROTTLE_WINDOW_MS."""
    cap = limits.max_submits_per_second
    if cap is None or submits_in_window < cap:
        return None
    return (
        f"account {order.account_id} submitted {submits_in_window} orders in the last second, "
        f"max_submits_per_second is {cap}"
    )


def check_max_order_quantity(
    order: Order, limits: RiskLimits, view: RiskView, *, symbol_limits: SymbolLimits | None = None
) -> str | None:
    cap = (symbol_limits or limits.for_symbol(order.symbol)).max_order_quantity
    if cap is None or order.quantity <= cap:
        return None
    return (
        f"order quantity {decimal_str(order.quantity)} exceeds max_order_quantity {decimal_str(cap)} "
        f"for {order.symbol}"
    )


def check_price_band(
    order: Order, limits: RiskLimits, view: RiskView, *, last_price: LastPrice = _UNSET
) -> str | None:
    """Fat-finger guard on the limit and stop prices; a market order is valued at the last price, so it
    is within the band by definition. Skipped while no last price is known."""
    band = limits.price_band
    if band is None:
        return None
    if last_price is _UNSET:
        last_price = view.last_price(order.symbol)
    if last_price is None or last_price <= ZERO:
        return None
    allowed = band * last_price
    for label, price in (("limit price", order.limit_price), ("stop price", order.stop_price)):
        if price is not None and abs(price - last_price) > allowed:
            distance = (abs(price - last_price) * 100 / last_price).quantize(Decimal("0.01"))
            return (
                f"{label} {decimal_str(price)} is {decimal_str(distance)}% from last price "
                f"{decimal_str(last_price)}, beyond price_band {decimal_str(band * 100)}% for {order.symbol}"
            )
    return None


def check_max_order_notional(
    order: Order,
    limits: RiskLimits,
    view: RiskView,
    *,
    symbol_limits: SymbolLimits | None = None,
    last_price: LastPrice = _UNSET,
) -> str | None:
    cap = (symbol_limits or limits.for_symbol(order.symbol)).max_order_notional
    if cap is None:
        return None
    if last_price is _UNSET and order.limit_price is None and order.stop_price is None:
        last_price = view.last_price(order.symbol)
    price = reference_price(order, None if last_price is _UNSET else last_price)
    if price is None:
        return f"no market price for {order.symbol}"
    notional = order.quantity * price
    if notional <= cap:
        return None
    return (
        f"order notional {decimal_str(notional)} exceeds max_order_notional {decimal_str(cap)} "
        f"for {order.symbol}"
    )


def check_max_position(
    order: Order,
    limits: RiskLimits,
    view: RiskView,
    *,
    symbol_limits: SymbolLimits | None = None,
    position: Decimal | None = None,
    working: Sequence[Order] | None = None,
) -> str | None:
    """|position + same-side working remaining + this order| must stay within max_position, unless the
    order does not grow that projected exposure (so an over-limit position can always be reduced)."""
    cap = (symbol_limits or limits.for_symbol(order.symbol)).max_position
    if cap is None:
        return None
    if position is None:
        position = view.position_quantity(order.account_id, order.symbol)
    if working is None:
        working = view.working_orders(order.account_id)
    already = _same_side_remaining(order, working)
    if order.side is OrderSide.BUY:
        before = position + already
        projected = before + order.remaining
    else:
        before = position - already
        projected = before - order.remaining
    if abs(projected) <= cap or abs(projected) <= abs(before):
        return None
    side = order.side.value
    return (
        f"projected position {decimal_str(projected)} exceeds max_position {decimal_str(cap)} for "
        f"{order.symbol} (position {decimal_str(position)}, working {side} {decimal_str(already)}, "
        f"order {side} {decimal_str(order.remaining)})"
    )


def check_max_open_orders(
    order: Order, limits: RiskLimits, view: RiskView, *, working: Sequence[Order] | None = None
) -> str | None:
    cap = limits.max_open_orders
    if cap is None:
        return None
    if working is None:
        working = view.working_orders(order.account_id)
    count = len(working)
    if count < cap:
        return None
    return f"account {order.account_id} has {count} working orders, max_open_orders is {cap}"


def check_available_balance(
    order: Order, limits: RiskLimits, view: RiskView, *, last_price: LastPrice = _UNSET
) -> str | None:
    """Spot, no shorting: a buy needs its quote value plus the taker fee (the worst case), a sell needs
    the base quantity, both out of what working orders have not already reserved."""
    if not limits.check_balance:
        return None
    try:
        instrument = view.instrument(order.symbol)
    except UnknownInstrument:
        return f"unknown instrument {order.symbol}"
    if order.side is OrderSide.SELL:
        asset, needed = instrument.base, order.remaining
    else:
        if last_price is _UNSET:
            last_price = view.last_price(order.symbol)
        price = reference_price(order, last_price)
        if price is None:
            return f"no market price for {order.symbol}"
        asset, needed = instrument.quote, order.remaining * price * (ONE + instrument.taker_fee)
    available = view.available_balance(order.account_id, asset)
    if needed <= available:
        return None
    fee_note = " including taker fee" if order.side is OrderSide.BUY else ""
    return (
        f"insufficient {asset} balance for {order.symbol}: order needs {decimal_str(needed)}{fee_note}, "
        f"available {decimal_str(available)}"
    )
