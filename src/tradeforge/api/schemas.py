"""Request and response models of the REST API: exact decimals in, decimals as JSON strings out."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictBool,
    StrictInt,
    WithJsonSchema,
)

from tradeforge.domain.commands import SubmitOrder
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.fills import Liquidity, OrderSide
from tradeforge.domain.identifiers import CLIENT_ORDER_ID_PATTERN, Symbol
from tradeforge.domain.orders import OrderStatus, OrderType, TimeInForce
from tradeforge.domain.values import decimal_str
from tradeforge.engine.risk_rules import TradingState
from tradeforge.security.rbac import Role

# --- decimals ---------------------------------------------------------------------------------------

MAX_SIGNIFICANT_DIGITS = 28  # the default Decimal precision: no arithmetic on the value rounds it
MAX_INTEGER_DIGITS = 18
MAX_FRACTION_DIGITS = 18
DECIMAL_TEXT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
DECIMAL_TEXT_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)$"
# Float repr of up to 15 significant digits is exactly the decimal text it came from (DBL_DIG).
FLOAT_EXACT_DIGITS = 15
_WIDE = Context(prec=200)
_ONE = Decimal(1)


def parse_decimal(value: object) -> Decimal:
    """Exact decimal input. Strings in plain notation and integers always; Decimals (the API reads JSON
    numbers as Decimal from their text, see api.routing) if finite; Python floats only when their
    shortest repr has at most 15 significant digits, since only those name one decimal for sure."""
    if isinstance(value, bool):
        raise ValueError("must be a decimal number, not a boolean")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 64 or not DECIMAL_TEXT.match(text):
            raise ValueError('must be a decimal number in plain notation, e.g. "0.001"')
        result = Decimal(text)
    elif isinstance(value, float):
        result = Decimal(repr(value))
        if result.is_finite() and len(result.as_tuple().digits) > FLOAT_EXACT_DIGITS:
            raise ValueError("has more digits than a binary float holds exactly; send it as a string")
    else:
        raise ValueError(f'must be a decimal number (a string like "0.001"), not {type(value).__name__}')
    if not result.is_finite():
        raise ValueError("must be a finite number")
    if result.is_zero():
        return Decimal(0)
    reduced = result.normalize(_WIDE)
    if reduced.adjusted() >= MAX_INTEGER_DIGITS:
        raise ValueError(f"must be below 1e{MAX_INTEGER_DIGITS}")
    _, digits, exponent = reduced.as_tuple()
    assert isinstance(exponent, int)
    if -exponent > MAX_FRACTION_DIGITS:
        raise ValueError(f"has more than {MAX_FRACTION_DIGITS} decimal places")
    if len(digits) > MAX_SIGNIFICANT_DIGITS:
        raise ValueError(f"has more than {MAX_SIGNIFICANT_DIGITS} significant digits")
    # What domain.values.normalize answers (trailing zeros stripped, whole numbers in plain notation),
    # without its second pass: `reduced` is already normalized, exactly.
    return reduced.quantize(_ONE, context=_WIDE) if exponent > 0 else reduced


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


_DECIMAL_INPUT_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": DECIMAL_TEXT_PATTERN, "maxLength": 64},
        {"type": "number"},
    ],
    "description": "A decimal number, preferably as a string; JSON numbers are read exactly from their text.",
}
PositiveDecimal = Annotated[
    Decimal,
    PlainValidator(lambda v: _positive(parse_decimal(v))),
    PlainSerializer(decimal_str, return_type=str, when_used="json"),
    WithJsonSchema({**_DECIMAL_INPUT_SCHEMA, "examples": ["0.001"]}),
]
NonNegativeDecimal = Annotated[
    Decimal,
    PlainValidator(lambda v: _non_negative(parse_decimal(v))),
    PlainSerializer(decimal_str, return_type=str, when_used="json"),
    WithJsonSchema({**_DECIMAL_INPUT_SCHEMA, "examples": ["10"]}),
]
# Responses: decimals are already plain strings (bus.codec), documented as such.
DecimalStr = Annotated[str, Field(json_schema_extra={"format": "decimal"}, examples=["0.001"])]
Timestamp = Annotated[
    str, Field(json_schema_extra={"format": "date-time"}, examples=["2025-03-01T12:00:00.000Z"])
]


# --- symbols and identifiers ------------------------------------------------------------------------


def parse_symbol(value: str) -> str:
    """ccxt-unified symbol, upper-cased: "btc/usdt" becomes "BTC/USDT"."""
    try:
        return str(Symbol.parse(value))
    except ValidationError as error:
        raise ValueError(error.message) from None


SymbolText = Annotated[
    str,
    Field(
        min_length=3, max_length=41, examples=["BTC/USDT"], description="ccxt unified symbol, e.g. BTC/USDT"
    ),
    AfterValidator(parse_symbol),
]
IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:\-]{1,64}$"
ClientOrderId = Annotated[
    str,
    Field(
        pattern=CLIENT_ORDER_ID_PATTERN.pattern,
        examples=["my-order-0001"],
        description="Unique per account; a retry with the same id never creates a second order. "
        "Generated when absent.",
    ),
]
StrategyId = Annotated[str, Field(pattern=IDENTIFIER_PATTERN, examples=["sma-cross"])]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    """Exact epoch milliseconds (timedelta arithmetic, no float rounding)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def new_client_order_id() -> str:
    return "api-" + uuid.uuid4().hex[:24]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- orders -----------------------------------------------------------------------------------------


class OrderRequest(_Request):
    """A new order. Prices and quantities must sit on the instrument's tick and lot grid."""

    symbol: SymbolText
    side: OrderSide
    type: OrderType
    quantity: PositiveDecimal
    price: PositiveDecimal | None = Field(None, description="limit price (limit and stop_limit orders)")
    stop_price: PositiveDecimal | None = Field(None, description="trigger price (stop and stop_limit orders)")
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_at: AwareDatetime | None = Field(
        None, description="expiry of a GTD order, ISO 8601 with a timezone", examples=["2030-01-01T00:00:00Z"]
    )
    client_order_id: ClientOrderId | None = None
    venue: Annotated[
        str,
        Field(
            pattern=r"^[a-z0-9_\-]{1,32}$",
            description='"auto" (default): the venue with the best expected price after fees for this '
            "size, skipping venues that are down (docs/exchanges.md); or a venue's name, e.g. paper",
        ),
    ] = "auto"
    strategy_id: StrategyId | None = None

    def to_command(self, account_id: str) -> SubmitOrder:
        return SubmitOrder(
            account_id=account_id,
            client_order_id=self.client_order_id or new_client_order_id(),
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            quantity=self.quantity,
            price=self.price,
            stop_price=self.stop_price,
            time_in_force=self.time_in_force,
            expire_at=None if self.expire_at is None else epoch_ms(self.expire_at),
            venue=self.venue,
            strategy_id=self.strategy_id,
        )


class AmendRequest(_Request):
    """New quantity and/or limit price of a working order; absent or null keeps the current value."""

    quantity: PositiveDecimal | None = None
    price: PositiveDecimal | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{"price": "84000.5"}, {"quantity": "0.002"}]})


class OrderOut(BaseModel):
    id: str
    client_order_id: str
    account_id: str
    venue: str
    venue_order_id: str | None
    symbol: str
    side: OrderSide
    type: OrderType
    time_in_force: TimeInForce
    quantity: DecimalStr
    price: DecimalStr | None
    stop_price: DecimalStr | None
    expire_at: Timestamp | None
    status: OrderStatus
    filled_quantity: DecimalStr
    remaining_quantity: DecimalStr
    average_price: DecimalStr | None
    fees: DecimalStr = Field(description="fees charged so far, in the quote asset")
    triggered: bool = Field(description="a stop order whose stop price was reached")
    reject_reason: str | None
    strategy_id: str | None
    created_at: Timestamp
    updated_at: Timestamp


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class OrderList(BaseModel):
    items: list[OrderOut]


# --- fills, positions, balances ---------------------------------------------------------------------


class FillOut(BaseModel):
    id: str
    order_id: str
    client_order_id: str
    account_id: str
    venue: str
    symbol: str
    side: OrderSide
    quantity: DecimalStr
    price: DecimalStr
    notional: DecimalStr
    fee: DecimalStr
    fee_asset: str
    liquidity: Liquidity
    strategy_id: str | None
    ts: Timestamp


class FillPage(BaseModel):
    items: list[FillOut]
    next_cursor: str | None


class PositionOut(BaseModel):
    account_id: str
    symbol: str
    quantity: DecimalStr = Field(description="signed: long > 0, short < 0")
    side: Literal["long", "short", "flat"]
    average_price: DecimalStr | None
    cost_basis: DecimalStr
    mark_price: DecimalStr | None = Field(description="last known price")
    realized_pnl: DecimalStr
    unrealized_pnl: DecimalStr
    fees: DecimalStr
    updated_at: Timestamp | None


class PositionPage(BaseModel):
    items: list[PositionOut]
    next_cursor: str | None = None


class BalanceOut(BaseModel):
    account_id: str
    asset: str
    total: DecimalStr
    locked: DecimalStr = Field(description="reserved by working orders")
    free: DecimalStr
    updated_at: Timestamp | None


class BalancePage(BaseModel):
    items: list[BalanceOut]
    next_cursor: str | None = None


# --- risk -------------------------------------------------------------------------------------------


class SymbolLimitsOut(BaseModel):
    max_order_quantity: DecimalStr | None
    max_order_notional: DecimalStr | None
    max_position: DecimalStr | None


class RiskLimitsOut(BaseModel):
    default: SymbolLimitsOut
    per_symbol: dict[str, SymbolLimitsOut]
    price_band: DecimalStr | None = Field(
        description="fraction of the last price a limit or stop may be away"
    )
    max_open_orders: int | None
    max_submits_per_second: int | None
    check_balance: bool
    cancel_open_orders_on_halt: bool


class ThrottleOut(BaseModel):
    window_ms: int
    max_submits_per_second: int | None
    submits_in_window: dict[str, int]


class RiskStatusOut(BaseModel):
    state: TradingState
    reason: str
    limits: RiskLimitsOut
    throttle: ThrottleOut


class SymbolLimitsPatch(_Request):
    """null removes a limit (in a per_symbol entry: inherits the default)."""

    max_order_quantity: NonNegativeDecimal | None = None
    max_order_notional: NonNegativeDecimal | None = None
    max_position: NonNegativeDecimal | None = None


def _not_null(value: bool | None) -> bool | None:
    if value is None:
        raise ValueError("may not be null")
    return value


# Optional in the model only so that "absent" is possible; an explicit null is refused by name.
NotNullBool = Annotated[StrictBool | None, AfterValidator(_not_null), WithJsonSchema({"type": "boolean"})]


class RiskLimitsPatch(_Request):
    """A JSON merge patch of the limits: absent keys keep their value, `default` and each `per_symbol`
    entry merge field by field, a per_symbol entry set to null is removed."""

    # Unset fields are left out of the patch (exclude_unset), so these defaults are never applied.
    default: SymbolLimitsPatch = Field(
        default_factory=SymbolLimitsPatch, description="limits for every symbol without its own entry"
    )
    per_symbol: dict[SymbolText, SymbolLimitsPatch | None] = Field(
        default_factory=dict, description="entries by symbol; null removes the symbol's entry"
    )
    price_band: NonNegativeDecimal | None = None
    max_open_orders: Annotated[StrictInt, Field(ge=0, le=1_000_000)] | None = None
    max_submits_per_second: Annotated[StrictInt, Field(ge=0, le=1_000_000)] | None = None
    check_balance: NotNullBool = Field(None, description="refuse orders the free balance cannot pay for")
    cancel_open_orders_on_halt: NotNullBool = Field(None, description="halting cancels working orders")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"per_symbol": {"BTC/USDT": {"max_order_quantity": "2"}}, "max_open_orders": 100},
                {"default": {"max_order_notional": "50000"}, "price_band": "0.03"},
            ]
        }
    )

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class KillSwitchRequest(_Request):
    engaged: StrictBool = Field(description="true halts trading, false resumes it")
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    cancel_open_orders: StrictBool | None = Field(
        None,
        description="cancel working orders when engaging; null follows the cancel_open_orders_on_halt limit",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"engaged": True, "reason": "exchange incident", "cancel_open_orders": True}]
        }
    )


class TradingStateRequest(_Request):
    state: TradingState
    reason: Annotated[str, Field(min_length=1, max_length=500)]

    model_config = ConfigDict(json_schema_extra={"examples": [{"state": "reducing", "reason": "end of day"}]})


# --- keys and audit ---------------------------------------------------------------------------------


class KeyCreateRequest(_Request):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    role: Role
    account_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_\-]{1,32}$",
        description="the account the key trades and reads (default: the service's account_id); "
        "a live venue with its own account_id is traded with keys of that account",
    )

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "grafana", "role": "viewer"}]})


class KeyOut(BaseModel):
    id: str
    name: str
    role: Role
    account_id: str
    created_at: Timestamp
    revoked_at: Timestamp | None


class KeyCreated(KeyOut):
    secret: str = Field(description="the API key; shown only in this response, store it now")


class KeyList(BaseModel):
    items: list[KeyOut]
    next_cursor: str | None = None


class AuditOut(BaseModel):
    id: str
    ts: Timestamp
    actor: str
    action: str
    target: str
    details: Any = Field(description="what changed (JSON)")


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None


# --- health -----------------------------------------------------------------------------------------


class HealthOut(BaseModel):
    status: Literal["ok"]


class VenueOut(BaseModel):
    name: str
    kind: str = Field(description="paper, or ccxt for an exchange")
    up: bool = Field(description="connected, its circuit closed")
    state: str = Field(description="up (paper); closed, open or half_open (circuit breaker); not_connected")
    sandbox: bool | None
    remaining_budget: float | None = Field(description="request budget tokens left (ccxt venues)")
    consecutive_failures: int
    last_failure: str
    trading: str = Field(
        description="reconciliation gate: active, reducing (only orders that shrink a position), halted"
    )
    trading_reason: str


class ReadyOut(BaseModel):
    status: Literal["ready"]
    mode: str
    database: str = Field(description="database backend that answered")
    trading_state: TradingState
    working_orders: int
    replay_bars: int | None = Field(description="bars played by the replay feed, null without replay")
    venues: list[VenueOut] = Field(description="every venue; a down one is listed with its state")
