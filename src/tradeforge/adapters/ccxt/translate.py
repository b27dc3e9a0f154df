"""Translation of ccxt's unified structures (markets, orders, trades, balances) into exact domain values."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE

from tradeforge.domain.balances import Balance
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.fills import Fill, Liquidity, OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import OrderStatus
from tradeforge.domain.values import ZERO, normalize, round_to_step

logger = logging.getLogger(__name__)


def decimal_of(value: Any) -> Decimal | None:
    """ccxt numbers (floats parsed from the venue's strings, or strings) as exact Decimals, through
    their shortest string form: 0.1 becomes Decimal("0.1"), never 0.1000000000000000055511."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, Decimal):
            result = value
        elif isinstance(value, float):
            result = Decimal(repr(value))
        elif isinstance(value, int):
            result = Decimal(value)
        else:
            text = str(value).strip()
            if not text:
                return None
            result = Decimal(text)
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def step_from_precision(value: Any, mode: int, reference: Decimal | None = None) -> Decimal:
    """The grid step that ccxt's precision value means under the exchange's precisionMode.

    TICK_SIZE: the value is the step itself (0.01). DECIMAL_PLACES: a count of decimals (2 -> 0.01).
    SIGNIFICANT_DIGITS: a count of significant digits, so the step depends on the magnitude of the
    number: it needs a reference value (5 digits at 84123.4 -> step 1)."""
    number = decimal_of(value)
    if number is None or number < ZERO:
        raise ValidationError("precision", f"no usable precision in {value!r}")
    if mode == TICK_SIZE:
        if number == ZERO:
            raise ValidationError("precision", "a tick size of zero")
        return normalize(number)
    if number != number.to_integral_value():
        raise ValidationError("precision", f"{value!r} is not a count of digits")
    digits = int(number)
    if mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-digits)
    if mode == SIGNIFICANT_DIGITS:
        if reference is None or reference <= ZERO:
            raise ValidationError("precision", "significant digits need a reference value")
        if digits < 1:
            raise ValidationError("precision", "zero significant digits")
        return Decimal(1).scaleb(reference.adjusted() - digits + 1)
    raise ValidationError("precision", f"unknown ccxt precision mode {mode!r}")


def _limit(market: Mapping[str, Any], kind: str, bound: str) -> Decimal | None:
    limits = market.get("limits") or {}
    return decimal_of((limits.get(kind) or {}).get(bound))


def instrument_from_market(
    market: Mapping[str, Any],
    venue: str,
    precision_mode: int,
    reference_price: Decimal | None = None,
) -> Instrument:
    """A domain Instrument from one ccxt market: tick and lot from its precision, minimum quantity
    and notional from its limits, maker/taker fee rates from the market (the venue's base tier)."""
    precision = market.get("precision") or {}
    tick = step_from_precision(precision.get("price"), precision_mode, reference_price)
    lot_reference = None
    if precision_mode == SIGNIFICANT_DIGITS:
        lot_reference = _limit(market, "amount", "min") or Decimal(1)
    lot = step_from_precision(precision.get("amount"), precision_mode, lot_reference)
    min_quantity = _limit(market, "amount", "min")
    if min_quantity is None or min_quantity < lot:
        min_quantity = lot
    min_notional = _limit(market, "cost", "min") or ZERO
    maker = decimal_of(market.get("maker"))
    taker = decimal_of(market.get("taker"))
    return Instrument.spot(
        str(market["symbol"]),
        venue,
        tick_size=tick,
        lot_size=lot,
        min_quantity=min_quantity,
        min_notional=min_notional,
        maker_fee=maker if maker is not None else Decimal("0.001"),
        taker_fee=taker if taker is not None else Decimal("0.001"),
    )


def instruments_from_markets(
    markets: Mapping[str, Mapping[str, Any]],
    venue: str,
    precision_mode: int,
    symbols: frozenset[str] | None = None,
) -> list[Instrument]:
    """Active spot markets as Instruments (all, or those in `symbols`); others are skipped."""
    out: list[Instrument] = []
    for symbol, market in sorted(markets.items()):
        if symbols is not None and symbol not in symbols:
            continue
        if not market.get("spot") or market.get("active") is False:
            continue
        try:
            out.append(instrument_from_market(market, venue, precision_mode))
        except (ValidationError, KeyError) as error:
            logger.debug("skipping %s market %s: %s", venue, symbol, error)
    return out


_STATUSES = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """An order as the venue reports it, in domain terms. status is None when the answer did not
    say (bybit and okx create answers carry only ids). "closed" maps to filled; a closed order with
    a remainder is reported expired by the adapter."""

    venue_order_id: str
    client_order_id: str | None  # the venue's client id field (may be a digest of ours)
    symbol: str
    side: OrderSide | None
    type: str | None
    status: OrderStatus | None
    quantity: Decimal | None
    filled: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    average_price: Decimal | None
    timestamp: int | None

    @property
    def is_open(self) -> bool:
        return self.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


def order_from_ccxt(raw: Mapping[str, Any]) -> VenueOrder:
    filled = decimal_of(raw.get("filled"))
    status = _STATUSES.get(str(raw.get("status") or "").lower())
    if status is OrderStatus.OPEN and filled is not None and filled > ZERO:
        status = OrderStatus.PARTIALLY_FILLED
    side = raw.get("side")
    return VenueOrder(
        venue_order_id=str(raw.get("id")),
        client_order_id=raw.get("clientOrderId") or None,
        symbol=str(raw.get("symbol") or ""),
        side=OrderSide(side) if side in ("buy", "sell") else None,
        type=raw.get("type"),
        status=status,
        quantity=decimal_of(raw.get("amount")),
        filled=filled,
        price=decimal_of(raw.get("price")),
        stop_price=decimal_of(raw.get("triggerPrice") or raw.get("stopPrice")),
        average_price=decimal_of(raw.get("average")),
        timestamp=raw.get("timestamp"),
    )


@dataclass(frozen=True, slots=True)
class VenueTrade:
    """One of our executions as the venue lists it, on the instrument's grid."""

    trade_id: str
    venue_order_id: str | None
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: Liquidity
    ts: int

    def to_fill(
        self,
        venue: str,
        order_id: str,
        client_order_id: str,
        account_id: str,
        strategy_id: str | None = None,
    ) -> Fill:
        return Fill(
            fill_id=f"{venue}:{self.trade_id}",
            order_id=order_id,
            client_order_id=client_order_id,
            account_id=account_id,
            venue=venue,
            symbol=self.symbol,
            side=self.side,
            quantity=self.quantity,
            price=self.price,
            fee=self.fee,
            fee_asset=self.fee_asset,
            liquidity=self.liquidity,
            ts=self.ts,
            strategy_id=strategy_id,
        )


def trade_from_ccxt(
    raw: Mapping[str, Any], instrument: Instrument, now_ms: int, side_hint: OrderSide | None = None
) -> VenueTrade:
    """quantity and price are put on the lot and tick grid (they are on it at any sane venue; the
    rounding only undoes float noise); fees stay exact in the currency the venue charged. Some
    answers omit the side (binance's create response): side_hint, the order's side, fills in."""
    quantity = decimal_of(raw.get("amount"))
    price = decimal_of(raw.get("price"))
    if quantity is None or price is None or raw.get("id") is None:
        raise ValidationError("trade", f"incomplete trade from the venue: {raw.get('id')!r}")
    fee = raw.get("fee") or {}
    fees = [item for item in (raw.get("fees") or []) if item and item.get("cost")]
    if len({item.get("currency") for item in fees}) > 1:
        logger.warning("trade %s carries fees in several currencies; booking %s", raw.get("id"), fee)
    fee_cost = decimal_of(fee.get("cost")) or ZERO
    fee_asset = fee.get("currency") or instrument.quote
    maker = raw.get("takerOrMaker") == "maker"
    side = OrderSide(raw["side"]) if raw.get("side") in ("buy", "sell") else side_hint
    if side is None:
        raise ValidationError("trade", f"trade {raw.get('id')!r} has no side")
    timestamp = raw.get("timestamp")
    return VenueTrade(
        trade_id=str(raw["id"]),
        venue_order_id=str(raw["order"]) if raw.get("order") is not None else None,
        symbol=instrument.symbol,
        side=side,
        quantity=round_to_step(quantity, instrument.lot_size),
        price=round_to_step(price, instrument.tick_size),
        fee=fee_cost,
        fee_asset=str(fee_asset),
        liquidity=Liquidity.MAKER if maker else Liquidity.TAKER,
        ts=int(timestamp) if timestamp is not None else now_ms,
    )


def balances_from_ccxt(raw: Mapping[str, Any], account_id: str, now_ms: int) -> list[Balance]:
    """ccxt's balance structure as domain Balances (total and used = locked), zero totals omitted."""
    totals = raw.get("total") or {}
    used = raw.get("used") or {}
    out: list[Balance] = []
    for asset in sorted(totals):
        total = decimal_of(totals.get(asset))
        if total is None or total == ZERO:
            continue
        locked = decimal_of(used.get(asset)) or ZERO
        out.append(Balance(account_id, str(asset), total, locked, now_ms))
    return out
