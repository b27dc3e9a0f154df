"""The order state machine: every transition goes through the table, illegal ones raise."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.domain.factories import make_fill, make_order

from tradeforge.domain.errors import InvalidTransition, OrderNotAmendable, ValidationError
from tradeforge.domain.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
)
from tradeforge.domain.orders import TRANSITIONS, OrderStatus, OrderType


def test_a_new_order_is_pending_and_accepting_opens_it() -> None:
    order = make_order()
    assert order.status is OrderStatus.PENDING
    order.apply(OrderAccepted(5, order.id, "V1"))
    assert order.status is OrderStatus.OPEN
    assert order.venue_order_id == "V1"
    assert order.updated_at == 5
    assert order.version == 1


def test_fills_move_to_partially_filled_then_filled_with_exact_average() -> None:
    order = make_order(quantity="3")
    order.apply(OrderAccepted(1, order.id, "V1"))
    order.apply(OrderFilled(2, order.id, make_fill(order, "1", "100.10", fee="0.1")))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    order.apply(OrderFilled(3, order.id, make_fill(order, "2", "100.25", fill_id="F2")))
    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == Decimal("3")
    assert order.filled_notional == Decimal("300.60")
    assert order.average_price == Decimal("100.2")
    assert order.fees == Decimal("0.1")


def test_overfill_is_refused_and_changes_nothing() -> None:
    order = make_order(quantity="1")
    order.apply(OrderAccepted(1, order.id, "V1"))
    with pytest.raises(InvalidTransition, match="overfill"):
        order.apply(OrderFilled(2, order.id, make_fill(order, "1.5", "100")))
    assert order.filled_quantity == 0
    assert order.status is OrderStatus.OPEN


@pytest.mark.parametrize("terminal", [OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED])
def test_terminal_orders_take_no_more_events(terminal: OrderStatus) -> None:
    order = make_order(quantity="1")
    if terminal is OrderStatus.REJECTED:
        order.apply(OrderRejected(1, order.id, "no"))
    else:
        order.apply(OrderAccepted(1, order.id, "V1"))
        if terminal is OrderStatus.FILLED:
            order.apply(OrderFilled(2, order.id, make_fill(order, "1", "100")))
        else:
            order.apply(OrderCancelled(2, order.id))
    for event in (OrderAccepted(3, order.id, "V"), OrderCancelled(3, order.id), OrderExpired(3, order.id)):
        with pytest.raises(InvalidTransition):
            order.apply(event)
    assert order.status is terminal


def test_rejection_keeps_the_reason() -> None:
    order = make_order()
    order.apply(OrderRejected(1, order.id, "max_order_quantity exceeded"))
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason == "max_order_quantity exceeded"


def test_amend_changes_price_and_quantity_but_not_below_filled() -> None:
    order = make_order(quantity="3")
    order.apply(OrderAccepted(1, order.id, "V1"))
    order.apply(OrderFilled(2, order.id, make_fill(order, "1", "100")))
    order.apply(OrderAmended(3, order.id, Decimal("4"), Decimal("99"), None))
    assert (order.quantity, order.price, order.status) == (
        Decimal(4),
        Decimal(99),
        OrderStatus.PARTIALLY_FILLED,
    )
    with pytest.raises(InvalidTransition):
        order.apply(OrderAmended(4, order.id, Decimal("1"), Decimal("99"), None))
    with pytest.raises(ValidationError, match="quantity"):
        order.check_amendable(Decimal("1"), None)


def test_market_orders_have_no_price_to_amend() -> None:
    order = make_order(type=OrderType.MARKET, price=None)
    order.apply(OrderAccepted(1, order.id, "V1"))
    with pytest.raises(ValidationError, match="price"):
        order.check_amendable(None, Decimal("10"))
    pending = make_order("O2")
    with pytest.raises(OrderNotAmendable):
        pending.check_amendable(Decimal("3"), None)


def test_stop_trigger_keeps_the_order_open() -> None:
    order = make_order(type=OrderType.STOP, price=None, stop_price="120")
    order.apply(OrderAccepted(1, order.id, "V1"))
    order.apply(OrderTriggered(2, order.id))
    assert order.triggered and order.status is OrderStatus.OPEN
    with pytest.raises(InvalidTransition):
        order.apply(OrderTriggered(3, order.id))


def test_an_event_for_another_order_is_refused() -> None:
    order = make_order()
    with pytest.raises(InvalidTransition):
        order.apply(OrderAccepted(1, "other", "V1"))


EVENT_KINDS = ["accept", "reject", "fill", "cancel", "expire", "amend", "trigger"]


def _event(kind: str, order_id: str, step: int, quantity: Decimal, remaining: Decimal) -> OrderEvent:
    if kind == "accept":
        return OrderAccepted(step, order_id, f"V{step}")
    if kind == "reject":
        return OrderRejected(step, order_id, "r")
    if kind == "cancel":
        return OrderCancelled(step, order_id)
    if kind == "expire":
        return OrderExpired(step, order_id)
    if kind == "amend":
        return OrderAmended(step, order_id, quantity, Decimal("100"), None)
    if kind == "trigger":
        return OrderTriggered(step, order_id)
    raise AssertionError(kind)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(EVENT_KINDS), st.integers(min_value=1, max_value=60)), max_size=25
    )
)
def test_random_event_sequences_never_take_an_illegal_transition(steps: list[tuple[str, int]]) -> None:
    """Whatever events arrive, the status only moves along the table, and filled never exceeds
    quantity nor decreases."""
    order = make_order(quantity="5")
    for step, (kind, amount) in enumerate(steps, start=1):
        before_status, before_filled = order.status, order.filled_quantity
        quantity = Decimal(amount) / 10
        if kind == "fill":
            event: OrderEvent = OrderFilled(
                step, order.id, make_fill(order, quantity, "100", fill_id=f"F{step}")
            )
        else:
            event = _event(kind, order.id, step, quantity + order.filled_quantity, order.remaining)
        allowed = TRANSITIONS.get((before_status, type(event)))
        try:
            order.apply(event)
        except InvalidTransition:
            assert order.status is before_status and order.filled_quantity == before_filled
            continue
        assert allowed is not None and order.status in allowed
        assert order.filled_quantity >= before_filled
        assert 0 <= order.filled_quantity <= order.quantity
        assert (order.status is OrderStatus.FILLED) == (order.filled_quantity == order.quantity)
