"""Tradable instruments and the trading rules they carry: tick, lot, minimums and fees."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradeforge.domain.errors import ValidationError
from tradeforge.domain.identifiers import Symbol
from tradeforge.domain.values import ZERO, is_multiple, round_to_step


@dataclass(frozen=True, slots=True)
class Instrument:
    """A spot instrument on one venue. Fees are rates (0.001 = 0.1 %)."""

    symbol: str
    base: str
    quote: str
    venue: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    min_notional: Decimal
    maker_fee: Decimal
    taker_fee: Decimal

    @classmethod
    def spot(
        cls,
        symbol: str,
        venue: str,
        *,
        tick_size: str | Decimal,
        lot_size: str | Decimal,
        min_quantity: str | Decimal | None = None,
        min_notional: str | Decimal = "0",
        maker_fee: str | Decimal = "0.001",
        taker_fee: str | Decimal = "0.001",
    ) -> Instrument:
        parsed = Symbol.parse(symbol)
        lot = Decimal(lot_size)
        return cls(
            symbol=str(parsed),
            base=parsed.base,
            quote=parsed.quote,
            venue=venue,
            tick_size=Decimal(tick_size),
            lot_size=lot,
            min_quantity=Decimal(min_quantity) if min_quantity is not None else lot,
            min_notional=Decimal(min_notional),
            maker_fee=Decimal(maker_fee),
            taker_fee=Decimal(taker_fee),
        )

    def check_price(self, price: Decimal, field: str = "price") -> Decimal:
        if price <= ZERO:
            raise ValidationError(field, "must be greater than zero")
        if not is_multiple(price, self.tick_size):
            raise ValidationError(field, f"must be a multiple of the tick size {self.tick_size}")
        return price

    def check_quantity(self, quantity: Decimal, field: str = "quantity") -> Decimal:
        if quantity <= ZERO:
            raise ValidationError(field, "must be greater than zero")
        if not is_multiple(quantity, self.lot_size):
            raise ValidationError(field, f"must be a multiple of the lot size {self.lot_size}")
        if quantity < self.min_quantity:
            raise ValidationError(field, f"must be at least {self.min_quantity}")
        return quantity

    def check_notional(self, quantity: Decimal, price: Decimal) -> None:
        if quantity * price < self.min_notional:
            raise ValidationError(
                "quantity",
                f"order value {quantity * price} is below the minimum notional {self.min_notional}",
            )

    def price_from_market(self, value: float | Decimal) -> Decimal:
        """Put a market-data price (possibly float) onto this instrument's tick grid."""
        return round_to_step(Decimal(str(value)) if isinstance(value, float) else value, self.tick_size)

    def fee_rate(self, liquidity: str) -> Decimal:
        return self.maker_fee if liquidity == "maker" else self.taker_fee
