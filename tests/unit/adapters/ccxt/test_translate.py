"""ccxt structures into exact domain values: precision modes, floats, trades, balances."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE

from tradeforge.adapters.ccxt.translate import (
    balances_from_ccxt,
    decimal_of,
    instrument_from_market,
    instruments_from_markets,
    order_from_ccxt,
    step_from_precision,
    trade_from_ccxt,
)
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.fills import Liquidity, OrderSide
from tradeforge.domain.orders import OrderStatus


def market(symbol: str = "BTC/USDT", **overrides: Any) -> dict[str, Any]:
    base = {
        "symbol": symbol,
        "spot": True,
        "active": True,
        "precision": {"price": 0.01, "amount": 1e-05},
        "limits": {"amount": {"min": 1e-05}, "cost": {"min": 5.0}},
        "maker": 0.001,
        "taker": 0.001,
    }
    base.update(overrides)
    return base


def test_floats_become_their_shortest_decimal() -> None:
    assert decimal_of(0.1) == Decimal("0.1") and str(decimal_of(1e-05)) == "0.00001"
    assert decimal_of("86810.44000000") == Decimal("86810.44")
    assert decimal_of(3) == Decimal(3)
    assert decimal_of(None) is None and decimal_of(float("nan")) is None and decimal_of("") is None


@pytest.mark.parametrize(
    ("value", "mode", "reference", "step"),
    [
        (0.01, TICK_SIZE, None, "0.01"),
        (1e-08, TICK_SIZE, None, "0.00000001"),
        (10.0, TICK_SIZE, None, "10"),
        (2, DECIMAL_PLACES, None, "0.01"),
        (0, DECIMAL_PLACES, None, "1"),
        (8, DECIMAL_PLACES, None, "0.00000001"),
        (5, SIGNIFICANT_DIGITS, Decimal("84123.4"), "1"),
        (5, SIGNIFICANT_DIGITS, Decimal("0.0123"), "0.000001"),
    ],
)
def test_precision_modes_give_the_grid_step(
    value: float, mode: int, reference: Decimal | None, step: str
) -> None:
    assert step_from_precision(value, mode, reference) == Decimal(step)


def test_significant_digits_need_a_reference_and_counts_must_be_whole() -> None:
    with pytest.raises(ValidationError, match="reference"):
        step_from_precision(5, SIGNIFICANT_DIGITS)
    with pytest.raises(ValidationError, match="count of digits"):
        step_from_precision(0.5, DECIMAL_PLACES)
    with pytest.raises(ValidationError):
        step_from_precision(0, TICK_SIZE)


def test_instrument_from_a_tick_size_market() -> None:
    instrument = instrument_from_market(market(), "binance", TICK_SIZE)
    assert (instrument.tick_size, instrument.lot_size) == (Decimal("0.01"), Decimal("0.00001"))
    assert (instrument.min_quantity, instrument.min_notional) == (Decimal("0.00001"), Decimal(5))
    assert (instrument.maker_fee, instrument.base, instrument.quote) == (Decimal("0.001"), "BTC", "USDT")


def test_instrument_from_a_decimal_places_market() -> None:
    raw = market(precision={"price": 1, "amount": 8}, limits={"amount": {"min": None}, "cost": {}})
    instrument = instrument_from_market(raw, "kraken", DECIMAL_PLACES)
    assert (instrument.tick_size, instrument.lot_size) == (Decimal("0.1"), Decimal("0.00000001"))
    assert instrument.min_quantity == instrument.lot_size and instrument.min_notional == 0


def test_instrument_from_a_significant_digits_market_uses_a_reference_price() -> None:
    raw = market(precision={"price": 5, "amount": 4}, limits={"amount": {"min": 0.001}, "cost": {}})
    instrument = instrument_from_market(raw, "x", SIGNIFICANT_DIGITS, Decimal("84123.4"))
    assert instrument.tick_size == Decimal("1")
    assert instrument.lot_size == Decimal("0.000001")  # 4 digits at the minimum amount 0.001


def test_inactive_unparseable_and_unwanted_markets_are_skipped() -> None:
    markets = {
        "BTC/USDT": market(),
        "ETH/USDT": market("ETH/USDT", active=False),
        "BTC/USDT:USDT": market("BTC/USDT:USDT", spot=False),
        "weird-1/USDT": market("weird-1/USDT"),
        "SOL/USDT": market("SOL/USDT"),
    }
    assert [i.symbol for i in instruments_from_markets(markets, "v", TICK_SIZE)] == ["BTC/USDT", "SOL/USDT"]
    only = instruments_from_markets(markets, "v", TICK_SIZE, frozenset({"SOL/USDT"}))
    assert [i.symbol for i in only] == ["SOL/USDT"]


def test_trades_land_on_the_grid_with_exact_fees() -> None:
    instrument = instrument_from_market(market(), "binance", TICK_SIZE)
    raw = {
        "id": "42",
        "order": 7,
        "amount": 0.30000000000000004,
        "price": 86810.44000000001,
        "fee": {"cost": 1e-05, "currency": "BTC"},
        "takerOrMaker": "maker",
        "timestamp": 1_700_000_000_000,
    }
    trade = trade_from_ccxt(raw, instrument, 0, side_hint=OrderSide.BUY)
    assert (trade.quantity, trade.price) == (Decimal("0.3"), Decimal("86810.44"))
    assert (trade.fee, trade.fee_asset, trade.liquidity) == (Decimal("0.00001"), "BTC", Liquidity.MAKER)
    assert (trade.side, trade.venue_order_id, trade.ts) == (OrderSide.BUY, "7", 1_700_000_000_000)
    fill = trade.to_fill("binance", "O1", "c1", "main", "s1")
    assert (fill.fill_id, fill.order_id, fill.notional) == ("binance:42", "O1", Decimal("26043.132"))
    with pytest.raises(ValidationError, match="no side"):
        trade_from_ccxt({**raw, "side": None}, instrument, 0)


def test_orders_and_balances() -> None:
    order = order_from_ccxt(
        {"id": 5, "status": "open", "filled": 0.005, "amount": 0.02, "side": "buy", "price": 80000.0}
    )
    assert (order.venue_order_id, order.status, order.filled) == (
        "5",
        OrderStatus.PARTIALLY_FILLED,
        Decimal("0.005"),
    )
    assert order_from_ccxt({"id": "x", "status": "closed"}).status is OrderStatus.FILLED
    assert order_from_ccxt({"id": "x", "status": None}).status is None
    balances = balances_from_ccxt(
        {"total": {"BTC": 2.00999, "USDT": 0.0, "ETH": 20}, "used": {"BTC": 0.5}}, "main", 9
    )
    assert [(b.asset, b.total, b.locked, b.free) for b in balances] == [
        ("BTC", Decimal("2.00999"), Decimal("0.5"), Decimal("1.50999")),
        ("ETH", Decimal(20), Decimal(0), Decimal(20)),
    ]
