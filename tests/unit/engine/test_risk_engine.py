"""Risk engine: rule order, trading states, the clock-driven throttle, limit updates, status, and a
property tying `check` to the individual rules."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from tests.unit.engine import risk_fakes

from tradeforge.domain.errors import ValidationError
from tradeforge.domain.events import OrderAccepted, OrderFilled, RiskLimitsChanged, TradingStateChanged
from tradeforge.domain.fills import Fill, Liquidity, OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order, OrderType, TimeInForce
from tradeforge.engine.risk_engine import RULE_ORDER, RiskEngine
from tradeforge.engine.risk_rules import (
    THROTTLE_WINDOW_MS,
    RiskLimits,
    SymbolLimits,
    TradingState,
    check_available_balance,
    check_max_open_orders,
    check_max_order_notional,
    check_max_order_quantity,
    check_max_position,
    check_price_band,
    check_throttle,
    check_trading_state,
)

D = Decimal
BTC = "BTC/USDT"
ETH = "ETH/USDT"
ACCOUNT = "acc-1"
INSTRUMENTS = {
    BTC: Instrument.spot(BTC, "paper", tick_size="0.01", lot_size="0.01", taker_fee="0.001"),
    ETH: Instrument.spot(ETH, "paper", tick_size="0.01", lot_size="0.01", taker_fee="0.002"),
}
_ids = itertools.count()


FakeClock = risk_fakes.FakeClock


class FakeView(risk_fakes.FakeView):
    instruments = INSTRUMENTS


def make_order(
    side: str = "buy",
    quantity: Decimal | str = "1",
    *,
    type: OrderType | str = OrderType.LIMIT,
    price: Decimal | str | None = "100",
    stop_price: Decimal | str | None = None,
    symbol: str = BTC,
    account_id: str = ACCOUNT,
    accepted: bool = False,
    filled: Decimal = D(0),
) -> Order:
    order_type = OrderType(type)
    number = next(_ids)
    order = Order(
        id=f"o{number}",
        client_order_id=f"c{number}",
        account_id=account_id,
        venue="paper",
        symbol=symbol,
        side=OrderSide(side),
        type=order_type,
        quantity=D(quantity),
        price=D(price)
        if price is not None and order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        else None,
        stop_price=D(stop_price) if stop_price is not None else None,
        time_in_force=TimeInForce.GTC,
        expire_at=None,
        strategy_id=None,
        created_at=0,
        updated_at=0,
    )
    if accepted or filled:
        order.apply(OrderAccepted(1, order.id, f"v{number}"))
    if filled:
        fill = Fill(
            f"f{number}",
            order.id,
            order.client_order_id,
            account_id,
            "paper",
            symbol,
            order.side,
            filled,
            D(100),
            D(0),
            "USDT",
            Liquidity.MAKER,
            2,
        )
        order.apply(OrderFilled(2, order.id, fill))
    return order


def rich_view() -> FakeView:
    return FakeView(
        prices={BTC: D(100), ETH: D(10)}, balances={"USDT": D(10**6), "BTC": D(100), "ETH": D(100)}
    )


def engine_for(
    limits: RiskLimits, view: FakeView | None = None, clock: FakeClock | None = None
) -> RiskEngine:
    return RiskEngine(limits, view or rich_view(), clock or FakeClock())


# --- check ------------------------------------------------------------------------------------------


def test_an_order_within_every_limit_is_accepted() -> None:
    limits = RiskLimits(
        default=SymbolLimits(D(1), D(1000), D(5)), max_open_orders=3, max_submits_per_second=3
    )
    assert engine_for(limits).check(make_order("buy", "1", price="100")) is None


def test_first_failing_rule_in_the_documented_order_wins() -> None:
    # This order breaks quantity, band, notional, position and balance limits at once.
    order = make_order("buy", "50", price="200")
    limits = RiskLimits(default=SymbolLimits(D(1), D(1000), D(5)), max_open_orders=0)
    view = FakeView(prices={BTC: D(100)})
    engine = engine_for(limits, view)
    assert engine.check(order) == "order quantity 50 exceeds max_order_quantity 1 for BTC/USDT"
    engine.update_limits({"default": {"max_order_quantity": None}}, "test")
    assert "price_band" in (engine.check(order) or "")
    engine.update_limits({"price_band": None}, "test")
    assert "max_order_notional" in (engine.check(order) or "")
    engine.update_limits({"default": {"max_order_notional": None}}, "test")
    assert "max_position" in (engine.check(order) or "")
    engine.update_limits({"default": {"max_position": None}}, "test")
    assert "max_open_orders" in (engine.check(order) or "")
    engine.update_limits({"max_open_orders": None}, "test")
    assert (engine.check(order) or "").startswith("insufficient USDT balance")
    engine.update_limits({"check_balance": False}, "test")
    assert engine.check(order) is None
    engine.set_state(TradingState.HALTED, "stop", "ops")
    assert engine.check(order) == "trading is halted: stop"
    assert RULE_ORDER[0] == "trading_state" and len(RULE_ORDER) == 8


def test_per_symbol_override_applies_through_the_engine() -> None:
    limits = RiskLimits(default=SymbolLimits(max_order_quantity=D(1)), per_symbol={ETH: SymbolLimits(D(10))})
    engine = engine_for(limits)
    assert engine.check(make_order("buy", "10", price="10", symbol=ETH)) is None
    assert engine.check(make_order("buy", "10.01", price="10", symbol=ETH)) == (
        "order quantity 10.01 exceeds max_order_quantity 10 for ETH/USDT"
    )
    assert engine.check(make_order("buy", "1.01", price="100")) == (
        "order quantity 1.01 exceeds max_order_quantity 1 for BTC/USDT"
    )


# --- trading states ---------------------------------------------------------------------------------


def test_halted_refuses_even_a_reducing_order_and_active_resumes() -> None:
    clock = FakeClock()
    view = rich_view()
    view.positions[BTC] = D(3)
    engine = RiskEngine(RiskLimits(), view, clock, TradingState.HALTED, "restart")
    sell = make_order("sell", "1", price="100")
    assert engine.check(sell) == "trading is halted: restart"
    clock.advance(5)
    event = engine.set_state(TradingState.ACTIVE, "all clear", "alice")
    assert event == TradingStateChanged(ts=clock.now, state="active", reason="all clear", actor="alice")
    assert (engine.state, engine.state_reason) == (TradingState.ACTIVE, "all clear")
    assert engine.check(sell) is None


def test_reducing_state_through_the_engine() -> None:
    view = rich_view()
    view.positions[BTC] = D(2)
    view.working.append(make_order("sell", "0.5", accepted=True))
    engine = engine_for(RiskLimits(), view)
    engine.set_state(TradingState.REDUCING, "drawdown 10%", "risk-bot")
    assert engine.check(make_order("sell", "1.5", price="100")) is None
    flip = engine.check(make_order("sell", "1.51", price="100"))
    assert flip is not None and "would flip position 2" in flip
    adding = engine.check(make_order("buy", "0.01", price="100"))
    assert adding == "trading is reducing only (drawdown 10%): buy 0.01 BTC/USDT would increase position 2"
    assert engine.check(make_order("buy", "1", price="10", symbol=ETH)) == (
        "trading is reducing only (drawdown 10%): no ETH/USDT position to reduce"
    )


def test_set_state_refuses_an_unknown_state_and_keeps_the_old_one() -> None:
    engine = engine_for(RiskLimits())
    with pytest.raises(ValidationError) as error:
        engine.set_state("paused", "x", "bob")  # type: ignore[arg-type]
    assert error.value.field == "state"
    assert engine.state is TradingState.ACTIVE
    event = engine.set_state("halted", "by name", "bob")  # type: ignore[arg-type]
    assert event.state == "halted" and engine.status()["state"] == "halted"


# --- throttle ---------------------------------------------------------------------------------------


def test_throttle_is_a_rolling_one_second_window_on_the_clock() -> None:
    clock = FakeClock(now=10_000)
    engine = engine_for(RiskLimits(max_submits_per_second=2), clock=clock)
    assert engine.check(make_order()) is None
    clock.advance(500)
    assert engine.check(make_order()) is None
    clock.advance(499)  # 999 ms after the first accept: both still in the window
    assert engine.check(make_order()) == (
        "account acc-1 submitted 2 orders in the last second, max_submits_per_second is 2"
    )
    clock.advance(1)  # the first accept leaves the window exactly 1000 ms later
    assert engine.check(make_order()) is None
    assert engine.check(make_order()) is not None
    clock.advance(500)
    assert engine.check(make_order()) is None
    assert THROTTLE_WINDOW_MS == 1000


def test_rejected_orders_do_not_count_for_the_throttle() -> None:
    limits = RiskLimits(default=SymbolLimits(max_order_quantity=D(1)), max_submits_per_second=2)
    engine = engine_for(limits)
    for _ in range(5):
        assert engine.check(make_order("buy", "2")) is not None
    assert engine.check(make_order()) is None
    assert engine.check(make_order()) is None
    reason = engine.check(make_order())
    assert reason is not None and "max_submits_per_second is 2" in reason


def test_throttle_is_per_account() -> None:
    engine = engine_for(RiskLimits(max_submits_per_second=1))
    assert engine.check(make_order(account_id="a")) is None
    assert engine.check(make_order(account_id="b")) is None
    assert engine.check(make_order(account_id="a")) is not None


def test_halted_checks_are_not_counted() -> None:
    clock = FakeClock()
    engine = engine_for(RiskLimits(max_submits_per_second=1), clock=clock)
    engine.set_state(TradingState.HALTED, "x", "ops")
    assert engine.check(make_order()) is not None
    engine.set_state(TradingState.ACTIVE, "", "ops")
    assert engine.check(make_order()) is None


# --- limits updates and status ----------------------------------------------------------------------


def test_update_limits_reports_only_changed_keys_and_before_undoes_it() -> None:
    clock = FakeClock()
    limits = RiskLimits(
        default=SymbolLimits(max_order_quantity=D(1), max_position=D(5)),
        per_symbol={ETH: SymbolLimits(max_position=D(50))},
    )
    engine = engine_for(limits, clock=clock)
    clock.advance(42)
    event = engine.update_limits(
        {
            "default": {"max_order_quantity": "2", "max_position": "5"},
            "per_symbol": {BTC: {"max_order_quantity": "0.5"}, ETH: None},
            "max_open_orders": 200,
            "price_band": "0.1",
        },
        "alice",
    )
    assert isinstance(event, RiskLimitsChanged)
    assert (event.ts, event.actor) == (clock.now, "alice")
    empty = {"max_order_quantity": None, "max_order_notional": None, "max_position": None}
    assert event.changes == {
        "before": {
            "default": {"max_order_quantity": "1"},
            "per_symbol": {BTC: None, ETH: {**empty, "max_position": "50"}},
            "price_band": "0.2",
        },
        "after": {
            "default": {"max_order_quantity": "2"},
            "per_symbol": {BTC: {**empty, "max_order_quantity": "0.5"}, ETH: None},
            "price_band": "0.1",
        },
    }
    assert engine.limits.for_symbol(BTC) == SymbolLimits(D("0.5"), None, D(5))
    engine.update_limits(event.changes["before"], "alice")
    assert engine.limits == limits


def test_invalid_update_raises_and_changes_nothing() -> None:
    limits = RiskLimits(default=SymbolLimits(max_order_quantity=D(1)))
    engine = engine_for(limits)
    with pytest.raises(ValidationError) as error:
        engine.update_limits(
            {"max_open_orders": 5, "per_symbol": {BTC: {"max_order_quantity": 0.5}}}, "mallory"
        )
    assert error.value.field == "per_symbol.BTC/USDT.max_order_quantity"
    assert engine.limits is limits
    assert engine.check(make_order("buy", "1.01")) is not None


def test_update_without_change_yields_an_empty_diff() -> None:
    engine = engine_for(RiskLimits())
    event = engine.update_limits({"max_open_orders": 200}, "bob")
    assert event.changes == {"before": {}, "after": {}}


def test_status_shows_state_limits_and_throttle_usage_now() -> None:
    clock = FakeClock()
    engine = engine_for(RiskLimits(max_submits_per_second=5), clock=clock)
    engine.check(make_order(account_id="a"))
    engine.check(make_order(account_id="a"))
    clock.advance(600)
    engine.check(make_order(account_id="b"))
    engine.set_state(TradingState.REDUCING, "vol spike", "ops")
    status = engine.status()
    assert status == {
        "state": "reducing",
        "reason": "vol spike",
        "limits": RiskLimits(max_submits_per_second=5).to_dict(),
        "throttle": {"window_ms": 1000, "max_submits_per_second": 5, "submits_in_window": {"a": 2, "b": 1}},
    }
    clock.advance(400)
    assert engine.status()["throttle"]["submits_in_window"] == {"b": 1}


# --- property: check agrees with the individual rules -----------------------------------------------

amounts = st.integers(min_value=0, max_value=600).map(lambda n: D(n).scaleb(-2))
optional_amounts = st.none() | amounts
notionals = st.none() | st.integers(min_value=0, max_value=40000).map(lambda n: D(n).scaleb(-2))
symbol_limits = st.builds(SymbolLimits, optional_amounts, notionals, optional_amounts)
optional_counts = st.none() | st.integers(min_value=0, max_value=4)
risk_limits = st.builds(
    RiskLimits,
    default=symbol_limits,
    per_symbol=st.dictionaries(st.sampled_from([BTC, ETH]), symbol_limits, max_size=2),
    price_band=st.none() | st.integers(min_value=0, max_value=30).map(lambda n: D(n).scaleb(-2)),
    max_open_orders=optional_counts,
    max_submits_per_second=optional_counts,
    check_balance=st.booleans(),
)
prices = st.integers(min_value=8000, max_value=12000).map(lambda n: D(n).scaleb(-2))
quantities = st.integers(min_value=1, max_value=300).map(lambda n: D(n).scaleb(-2))


@st.composite
def orders(draw: st.DrawFn, working: bool = False) -> Order:
    side = draw(st.sampled_from(["buy", "sell"]))
    order_type = draw(st.sampled_from(list(OrderType)))
    quantity = draw(quantities)
    filled_cents = draw(st.integers(min_value=0, max_value=int(quantity * 100) - 1)) if working else 0
    return make_order(
        side,
        quantity,
        type=order_type,
        price=draw(prices),
        stop_price=draw(prices) if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else None,
        symbol=draw(st.sampled_from([BTC, ETH])),
        account_id=draw(st.sampled_from([ACCOUNT, "acc-2"])) if working else ACCOUNT,
        accepted=draw(st.booleans()),
        filled=D(filled_cents).scaleb(-2),
    )


views = st.builds(
    FakeView,
    prices=st.dictionaries(st.sampled_from([BTC, ETH]), prices, max_size=2),
    positions=st.dictionaries(
        st.sampled_from([BTC, ETH]), st.integers(-300, 300).map(lambda n: D(n).scaleb(-2))
    ),
    balances=st.dictionaries(
        st.sampled_from(["USDT", "BTC", "ETH"]), st.integers(0, 60000).map(lambda n: D(n).scaleb(-2))
    ),
    working=st.lists(orders(working=True), max_size=5),
)


def individual_reasons(
    order: Order, limits: RiskLimits, view: FakeView, state: TradingState, reason: str, submits: int
) -> list[str | None]:
    """Every rule called on its own, each reading the view itself, in RULE_ORDER."""
    return [
        check_trading_state(order, limits, view, state=state, reason=reason),
        check_throttle(order, limits, view, submits_in_window=submits),
        check_max_order_quantity(order, limits, view),
        check_price_band(order, limits, view),
        check_max_order_notional(order, limits, view),
        check_max_position(order, limits, view),
        check_max_open_orders(order, limits, view),
        check_available_balance(order, limits, view),
    ]


@settings(max_examples=300, deadline=None)
@given(
    limits=risk_limits,
    view=views,
    state=st.sampled_from([TradingState.ACTIVE] * 3 + [TradingState.REDUCING, TradingState.HALTED]),
    steps=st.lists(st.tuples(st.integers(min_value=0, max_value=700), orders()), min_size=1, max_size=8),
)
def test_check_is_none_only_when_every_rule_is_none(
    limits: RiskLimits, view: FakeView, state: TradingState, steps: list[tuple[int, Order]]
) -> None:
    clock = FakeClock()
    engine = RiskEngine(limits, view, clock, state, "why")
    accepted_at: list[int] = []
    for delay, order in steps:
        clock.advance(delay)
        in_window = sum(1 for ts in accepted_at if ts > clock.now - THROTTLE_WINDOW_MS)
        reasons = individual_reasons(order, limits, view, state, "why", in_window)
        result = engine.check(order)
        first = next((i for i, r in enumerate(reasons) if r is not None), None)
        event("accepted" if first is None else f"rejected by {RULE_ORDER[first]}")
        assert result == (None if first is None else reasons[first])
        if result is None:
            assert all(r is None for r in reasons)
            accepted_at.append(clock.now)
