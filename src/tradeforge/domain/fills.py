"""Fills: one execution of (part of) an order, with its price, fee and liquidity side."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


@dataclass(frozen=True, slots=True)
class Fill:
    """An execution. fee is charged in fee_asset (the paper venue always uses the quote asset)."""

    fill_id: str
    order_id: str
    client_order_id: str
    account_id: str
    venue: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: Liquidity
    ts: int
    strategy_id: str | None = None

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price
