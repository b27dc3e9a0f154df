"""Fills: one execution of (part of) an order, with its price, fee and liquidity side."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from tradeforge.domain.copies import Reduction, reduce_fields


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

    def __init__(
        self,
        fill_id: str,
        order_id: str,
        client_order_id: str,
        account_id: str,
        venue: str,
        symbol: str,
        side: OrderSide,
        quantity: Decimal,
        price: Decimal,
        fee: Decimal,
        fee_asset: str,
        liquidity: Liquidity,
        ts: int,
        strategy_id: str | None = None,
    ) -> None:
        # Written out: compiled, an explicit __init__ is native code and the dataclass one is not
        # (ADR 7; one Fill per execution). object.__setattr__ because the class is frozen.
        object.__setattr__(self, "fill_id", fill_id)
        object.__setattr__(self, "order_id", order_id)
        object.__setattr__(self, "client_order_id", client_order_id)
        object.__setattr__(self, "account_id", account_id)
        object.__setattr__(self, "venue", venue)
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "quantity", quantity)
        object.__setattr__(self, "price", price)
        object.__setattr__(self, "fee", fee)
        object.__setattr__(self, "fee_asset", fee_asset)
        object.__setattr__(self, "liquidity", liquidity)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "strategy_id", strategy_id)

    def __reduce__(self) -> Reduction:
        return reduce_fields(self)

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price
