"""Small builders of real domain objects for tests."""

from __future__ import annotations

from decimal import Decimal

from tradeforge.domain.fills import Fill, Liquidity, OrderSide
from tradeforge.domain.orders import Order, OrderType, TimeInForce


def make_order(
    order_id: str = "O1",
    *,
    side: OrderSide = OrderSide.BUY,
    type: OrderType = OrderType.LIMIT,
    quantity: str = "2",
    price: str | None = "100",
    stop_price: str | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    symbol: str = "BTC/USDT",
) -> Order:
    return Order(
        id=order_id,
        client_order_id=f"c-{order_id}",
        account_id="main",
        venue="paper",
        symbol=symbol,
        side=side,
        type=type,
        quantity=Decimal(quantity),
        price=Decimal(price) if price else None,
        stop_price=Decimal(stop_price) if stop_price else None,
        time_in_force=tif,
        expire_at=None,
        strategy_id=None,
        created_at=0,
        updated_at=0,
    )


def make_fill(
    order: Order,
    quantity: str | Decimal,
    price: str | Decimal,
    fee: str | Decimal = "0",
    fill_id: str = "F1",
    ts: int = 1,
) -> Fill:
    return Fill(
        fill_id=fill_id,
        order_id=order.id,
        client_order_id=order.client_order_id,
        account_id=order.account_id,
        venue=order.venue,
        symbol=order.symbol,
        side=order.side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        fee_asset="USDT",
        liquidity=Liquidity.TAKER,
        ts=ts,
    )
