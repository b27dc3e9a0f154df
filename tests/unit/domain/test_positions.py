"""Positions from fills: average cost, realized and unrealized PnL, exact Decimal accounting."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.domain.factories import make_fill, make_order

from tradeforge.domain.balances import Balance, apply_flows, fill_cash_flows
from tradeforge.domain.errors import InsufficientBalance
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.positions import Position


def _fill(side: OrderSide, quantity: str, price: str, fee: str = "0"):  # type: ignore[no-untyped-def]
    return make_fill(make_order(side=side), quantity, price, fee=fee)


def test_long_then_partial_close_realizes_against_average_cost() -> None:
    position = Position("main", "BTC/USDT")
    position.apply_fill(_fill(OrderSide.BUY, "1", "100"), Decimal(0))
    position.apply_fill(_fill(OrderSide.BUY, "1", "110"), Decimal(0))
    assert position.average_price == Decimal("105")
    position.apply_fill(_fill(OrderSide.SELL, "1", "120"), Decimal("0.12"))
    assert position.quantity == Decimal("1")
    assert position.realized_pnl == Decimal("15")
    assert position.fees == Decimal("0.12")
    assert position.unrealized_pnl(Decimal("100")) == Decimal("-5")


def test_flipping_through_zero_opens_the_remainder_at_the_fill_price() -> None:
    position = Position("main", "BTC/USDT")
    position.apply_fill(_fill(OrderSide.BUY, "1", "100"), Decimal(0))
    position.apply_fill(_fill(OrderSide.SELL, "3", "90"), Decimal(0))
    assert position.quantity == Decimal("-2")
    assert position.realized_pnl == Decimal("-10")
    assert position.average_price == Decimal("90")
    position.apply_fill(_fill(OrderSide.BUY, "2", "80"), Decimal(0))
    assert position.quantity == 0 and position.cost_basis == 0
    assert position.realized_pnl == Decimal("10")


def test_spot_cash_flows_and_no_negative_balance() -> None:
    fill = _fill(OrderSide.BUY, "0.5", "100", fee="0.05")
    assert fill_cash_flows(fill, "BTC", "USDT") == {"BTC": Decimal("0.5"), "USDT": Decimal("-50.05")}
    balances = {"USDT": Balance("main", "USDT", Decimal("50"))}
    with pytest.raises(InsufficientBalance):
        apply_flows(balances, "main", fill_cash_flows(fill, "BTC", "USDT"), 1)
    assert balances["USDT"].total == Decimal("50") and "BTC" not in balances


@settings(max_examples=200, deadline=None)
@given(
    trades=st.lists(
        st.tuples(
            st.booleans(),
            st.integers(min_value=1, max_value=500).map(lambda n: Decimal(n) / 100),
            st.integers(min_value=1, max_value=20_000_00).map(lambda n: Decimal(n) / 100),
        ),
        min_size=1,
        max_size=40,
    ),
    mark=st.integers(min_value=1, max_value=20_000_00).map(lambda n: Decimal(n) / 100),
)
def test_realized_plus_unrealized_equals_the_fills_cash_flows_exactly(
    trades: list[tuple[bool, Decimal, Decimal]], mark: Decimal
) -> None:
    position = Position("main", "BTC/USDT")
    cash = Decimal(0)
    quantity = Decimal(0)
    for buy, amount, price in trades:
        side = OrderSide.BUY if buy else OrderSide.SELL
        position.apply_fill(_fill(side, str(amount), str(price)), Decimal(0))
        signed = amount if buy else -amount
        cash -= signed * price
        quantity += signed
    assert position.quantity == quantity
    assert position.realized_pnl + position.unrealized_pnl(mark) == cash + quantity * mark
