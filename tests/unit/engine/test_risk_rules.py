"""Risk limits settings (validation, merge, round trip) and each pure pre-trade rule at and past its limit."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

import pytest
from tests.unit.engine import risk_fakes

from tradeforge.domain.errors import ValidationError
from tradeforge.domain.events import OrderAccepted, OrderFilled
from tradeforge.domain.fills import Fill, Liquidity, OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order, OrderStatus, OrderType, TimeInForce
from tradeforge.engine.risk_rules import (
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
    reference_price,
)

D = Decimal
BTC = "BTC/USDT"
ETH = "ETH/USDT"
ACCOUNT = "acc-1"
INSTRUMENTS = {
    BTC: Instrument.spot(BTC, "paper", tick_size="0.01", lot_size="0.0001", taker_fee="0.001"),
    ETH: Instrument.spot(ETH, "paper", tick_size="0.01", lot_size="0.001", taker_fee="0.002"),
}
_ids = itertools.count()


class FakeView(risk_fakes.FakeView):
    instruments = INSTRUMENTS


def make_order(
    side: str = "buy",
    quantity: str = "1",
    *,
    type: str = "limit",
    price: str | None = None,
    stop_price: str | None = None,
    symbol: str = BTC,
    account_id: str = ACCOUNT,
    status: OrderStatus = OrderStatus.PENDING,
    filled: str = "0",
) -> Order:
    order_type = OrderType(type)
    if price is None and order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        price = "100"
    if stop_price is None and order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        stop_price = "100"
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
        price=D(price) if price is not None else None,
        stop_price=D(stop_price) if stop_price is not None else None,
        time_in_force=TimeInForce.GTC,
        expire_at=None,
        strategy_id=None,
        created_at=0,
        updated_at=0,
    )
    if status is not OrderStatus.PENDING:
        order.apply(OrderAccepted(1, order.id, f"v{number}"))
    if D(filled) > 0:
        fill = Fill(
            f"f{number}",
            order.id,
            order.client_order_id,
            account_id,
            "paper",
            symbol,
            order.side,
            D(filled),
            order.price or D(100),
            D(0),
            "USDT",
            Liquidity.MAKER,
            2,
        )
        order.apply(OrderFilled(2, order.id, fill))
    assert order.status is status
    return order


def limits_with(**symbol_limits: str) -> RiskLimits:
    return RiskLimits(default=SymbolLimits(**{k: D(v) for k, v in symbol_limits.items()}))


# --- settings -------------------------------------------------------------------------------------


def test_defaults_match_the_documented_settings() -> None:
    limits = RiskLimits()
    assert limits.default == SymbolLimits(None, None, None)
    assert dict(limits.per_symbol) == {}
    assert limits.price_band == D("0.2")
    assert (limits.max_open_orders, limits.max_submits_per_second) == (200, 50)
    assert limits.check_balance is True and limits.cancel_open_orders_on_halt is True


def test_per_symbol_entry_overrides_default_field_by_field() -> None:
    limits = RiskLimits(
        default=SymbolLimits(max_order_quantity=D(1), max_order_notional=D(1000), max_position=D(5)),
        per_symbol={ETH: SymbolLimits(max_order_quantity=D(10))},
    )
    assert limits.for_symbol(ETH) == SymbolLimits(D(10), D(1000), D(5))
    assert limits.for_symbol(BTC) == limits.default
    assert limits.for_symbol("SOL/USDT") == limits.default


def test_per_symbol_is_immutable_and_keys_are_canonical() -> None:
    source = {"eth/usdt": SymbolLimits(max_position=D(3))}
    limits = RiskLimits(per_symbol=source)
    source["BTC/USDT"] = SymbolLimits()
    assert list(limits.per_symbol) == [ETH]
    with pytest.raises(TypeError):
        limits.per_symbol[BTC] = SymbolLimits()  # type: ignore[index]
    assert limits.for_symbol(ETH).max_position == D(3)
    assert hash(limits) == hash(RiskLimits(per_symbol={ETH: SymbolLimits(max_position=D(3))}))


def test_to_dict_is_json_with_decimal_strings_and_nulls_kept() -> None:
    limits = RiskLimits(
        default=SymbolLimits(max_order_quantity=D("2.50")),
        per_symbol={BTC: SymbolLimits(max_order_notional=D("1E+5"))},
        price_band=None,
        max_submits_per_second=None,
    )
    expected = {
        "default": {"max_order_quantity": "2.5", "max_order_notional": None, "max_position": None},
        "per_symbol": {
            BTC: {"max_order_quantity": None, "max_order_notional": "100000", "max_position": None}
        },
        "price_band": None,
        "max_open_orders": 200,
        "max_submits_per_second": None,
        "check_balance": True,
        "cancel_open_orders_on_halt": True,
    }
    assert limits.to_dict() == expected
    assert json.loads(json.dumps(limits.to_dict())) == expected


def test_to_dict_from_dict_round_trip() -> None:
    limits = RiskLimits(
        default=SymbolLimits(D("0.5"), D("25000"), D("3")),
        per_symbol={ETH: SymbolLimits(max_position=D("40")), BTC: SymbolLimits(max_order_quantity=D("0.1"))},
        price_band=D("0.1"),
        max_open_orders=7,
        max_submits_per_second=0,
        check_balance=False,
        cancel_open_orders_on_halt=False,
    )
    again = RiskLimits.from_dict(json.loads(json.dumps(limits.to_dict())))
    assert again == limits
    assert again.to_dict() == limits.to_dict()
    assert RiskLimits.from_dict(RiskLimits().to_dict()) == RiskLimits()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"max_orders": 3}, "max_orders"),
        ({"default": {"max_qty": "1"}}, "default.max_qty"),
        ({"default": None}, "default"),
        ({"default": {"max_position": "-1"}}, "default.max_position"),
        ({"per_symbol": {BTC: {"max_order_quantity": 1.5}}}, "per_symbol.BTC/USDT.max_order_quantity"),
        ({"per_symbol": {BTC: {"max_order_notional": "abc"}}}, "per_symbol.BTC/USDT.max_order_notional"),
        ({"per_symbol": {BTC: {"max_position": "Infinity"}}}, "per_symbol.BTC/USDT.max_position"),
        ({"per_symbol": {BTC: {"oops": "1"}}}, "per_symbol.BTC/USDT.oops"),
        ({"per_symbol": {BTC: "1"}}, "per_symbol.BTC/USDT"),
        ({"per_symbol": {"BTCUSDT": {}}}, "per_symbol.BTCUSDT"),
        ({"per_symbol": {BTC: {}, "btc/usdt": {}}}, "per_symbol.btc/usdt"),
        ({"per_symbol": [BTC]}, "per_symbol"),
        ({"price_band": 0.05}, "price_band"),
        ({"price_band": "-0.01"}, "price_band"),
        ({"price_band": True}, "price_band"),
        ({"max_open_orders": -1}, "max_open_orders"),
        ({"max_open_orders": "200"}, "max_open_orders"),
        ({"max_open_orders": 2.0}, "max_open_orders"),
        ({"max_submits_per_second": True}, "max_submits_per_second"),
        ({"check_balance": "yes"}, "check_balance"),
        ({"cancel_open_orders_on_halt": 1}, "cancel_open_orders_on_halt"),
    ],
)
def test_from_dict_and_merged_name_the_offending_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as from_dict_error:
        RiskLimits.from_dict(data)
    assert from_dict_error.value.field == field
    assert str(from_dict_error.value).startswith(f"{field}: ")
    current = RiskLimits(default=SymbolLimits(max_position=D(1)))
    with pytest.raises(ValidationError) as merged_error:
        current.merged(data)
    assert merged_error.value.field == field
    assert current == RiskLimits(default=SymbolLimits(max_position=D(1)))


def test_from_dict_refuses_a_non_object() -> None:
    with pytest.raises(ValidationError) as error:
        RiskLimits.from_dict(["price_band"])  # type: ignore[arg-type]
    assert error.value.field == "limits"


def test_direct_construction_refuses_floats_and_negatives() -> None:
    with pytest.raises(ValidationError) as error:
        SymbolLimits(max_order_quantity=1.5)  # type: ignore[arg-type]
    assert error.value.field == "max_order_quantity"
    with pytest.raises(ValidationError) as error:
        RiskLimits(max_open_orders=-2)
    assert error.value.field == "max_open_orders"
    with pytest.raises(ValidationError) as error:
        RiskLimits(per_symbol={"nope": SymbolLimits()})
    assert error.value.field == "per_symbol.nope"


def test_merged_is_a_merge_patch() -> None:
    limits = RiskLimits(
        default=SymbolLimits(max_order_quantity=D(1), max_position=D(5)),
        per_symbol={BTC: SymbolLimits(max_order_quantity=D(2), max_position=D(3)), ETH: SymbolLimits(D(9))},
    )
    changed = limits.merged(
        {
            "default": {"max_order_quantity": "1.5"},
            "per_symbol": {BTC: {"max_position": None}, ETH: None, "sol/usdt": {"max_order_notional": 500}},
            "max_open_orders": None,
        }
    )
    assert changed.default == SymbolLimits(max_order_quantity=D("1.5"), max_position=D(5))
    assert dict(changed.per_symbol) == {
        BTC: SymbolLimits(max_order_quantity=D(2)),
        "SOL/USDT": SymbolLimits(max_order_notional=D(500)),
    }
    assert changed.for_symbol(BTC) == SymbolLimits(D(2), None, D(5))
    assert changed.max_open_orders is None
    assert changed.price_band == limits.price_band
    assert limits.default.max_order_quantity == D(1) and ETH in limits.per_symbol
    assert limits.merged({}) == limits


# --- rules ------------------------------------------------------------------------------------------


def test_max_order_quantity_at_limit_passes_and_above_names_the_limit() -> None:
    limits, view = limits_with(max_order_quantity="2"), FakeView()
    assert check_max_order_quantity(make_order(quantity="2"), limits, view) is None
    assert check_max_order_quantity(make_order(quantity="2.0001"), limits, view) == (
        "order quantity 2.0001 exceeds max_order_quantity 2 for BTC/USDT"
    )
    assert check_max_order_quantity(make_order(quantity="1000"), RiskLimits(), view) is None


def test_max_order_quantity_uses_the_per_symbol_override() -> None:
    limits = RiskLimits(default=SymbolLimits(max_order_quantity=D(1)), per_symbol={ETH: SymbolLimits(D(10))})
    view = FakeView()
    assert check_max_order_quantity(make_order(quantity="10", symbol=ETH), limits, view) is None
    eth_reason = check_max_order_quantity(make_order(quantity="10.001", symbol=ETH), limits, view)
    assert eth_reason == "order quantity 10.001 exceeds max_order_quantity 10 for ETH/USDT"
    assert check_max_order_quantity(make_order(quantity="1.5"), limits, view) == (
        "order quantity 1.5 exceeds max_order_quantity 1 for BTC/USDT"
    )


def test_max_order_notional_values_limit_then_stop_then_last_price() -> None:
    limits, view = limits_with(max_order_notional="1000"), FakeView(prices={BTC: D(200)})
    assert check_max_order_notional(make_order(quantity="10", price="100"), limits, view) is None
    assert check_max_order_notional(make_order(quantity="10.0001", price="100"), limits, view) == (
        "order notional 1000.01 exceeds max_order_notional 1000 for BTC/USDT"
    )
    stop = make_order(quantity="10.01", type="stop", stop_price="100")
    assert check_max_order_notional(stop, limits, view) == (
        "order notional 1001 exceeds max_order_notional 1000 for BTC/USDT"
    )
    assert check_max_order_notional(make_order(quantity="5", type="market"), limits, view) is None
    market = make_order(quantity="5.0001", type="market")
    assert check_max_order_notional(market, limits, view) == (
        "order notional 1000.02 exceeds max_order_notional 1000 for BTC/USDT"
    )


def test_max_order_notional_refuses_a_market_order_without_any_price() -> None:
    limits, view = limits_with(max_order_notional="1000"), FakeView()
    assert check_max_order_notional(make_order(type="market"), limits, view) == "no market price for BTC/USDT"
    assert check_max_order_notional(make_order(quantity="10", price="100"), limits, view) is None
    assert check_max_order_notional(make_order(type="market"), RiskLimits(), view) is None


def test_max_position_projects_position_plus_same_side_working_orders() -> None:
    working = [
        make_order("buy", "0.5", status=OrderStatus.OPEN),
        make_order("buy", "1", status=OrderStatus.PARTIALLY_FILLED, filled="0.75"),
        make_order("sell", "3"),
        make_order("buy", "9", symbol=ETH),
        make_order("buy", "9", account_id="someone-else"),
    ]
    limits = limits_with(max_position="2")
    view = FakeView(positions={BTC: D(1)}, working=working)
    assert check_max_position(make_order("buy", "0.25"), limits, view) is None
    assert check_max_position(make_order("buy", "0.2501"), limits, view) == (
        "projected position 2.0001 exceeds max_position 2 for BTC/USDT "
        "(position 1, working buy 0.75, order buy 0.2501)"
    )


def test_max_position_counts_short_exposure_and_flips() -> None:
    limits = limits_with(max_position="2")
    short = FakeView(positions={BTC: D(-1)})
    assert check_max_position(make_order("sell", "1"), limits, short) is None
    reason = check_max_position(make_order("sell", "1.0001"), limits, short)
    assert reason is not None and reason.startswith("projected position -2.0001 exceeds max_position 2")
    long = FakeView(positions={BTC: D(1)})
    assert check_max_position(make_order("sell", "3"), limits, long) is None
    flip = check_max_position(make_order("sell", "3.0001"), limits, long)
    assert flip is not None and "max_position 2" in flip


def test_max_position_never_blocks_an_order_that_shrinks_exposure() -> None:
    limits = limits_with(max_position="2")
    view = FakeView(positions={BTC: D(5)})
    assert check_max_position(make_order("sell", "1"), limits, view) is None
    reason = check_max_position(make_order("buy", "0.0001"), limits, view)
    assert reason is not None and "max_position 2" in reason


@pytest.mark.parametrize(
    ("order_kwargs", "accepted"),
    [
        ({"side": "buy", "price": "105"}, True),
        ({"side": "sell", "price": "95"}, True),
        ({"side": "buy", "price": "105.01"}, False),
        ({"side": "sell", "price": "94.99"}, False),
        ({"type": "stop", "stop_price": "95"}, True),
        ({"type": "stop", "stop_price": "94.99"}, False),
        ({"type": "stop_limit", "stop_price": "104", "price": "105.01"}, False),
        ({"type": "stop_limit", "stop_price": "105.01", "price": "104"}, False),
        ({"type": "market"}, True),
    ],
)
def test_price_band_on_both_sides_of_the_last_price(order_kwargs: dict[str, str], accepted: bool) -> None:
    limits, view = RiskLimits(price_band=D("0.05")), FakeView(prices={BTC: D(100)})
    reason = check_price_band(make_order(**order_kwargs), limits, view)  # type: ignore[arg-type]
    if accepted:
        assert reason is None
    else:
        assert reason is not None and "beyond price_band 5% for BTC/USDT" in reason


def test_price_band_reason_and_when_it_is_skipped() -> None:
    order = make_order("buy", price="130")
    assert check_price_band(order, RiskLimits(), FakeView(prices={BTC: D(100)})) == (
        "limit price 130 is 30% from last price 100, beyond price_band 20% for BTC/USDT"
    )
    assert check_price_band(order, RiskLimits(), FakeView()) is None
    assert check_price_band(order, RiskLimits(price_band=None), FakeView(prices={BTC: D(100)})) is None


def test_max_open_orders_counts_the_accounts_working_orders() -> None:
    limits = RiskLimits(max_open_orders=2)
    one = FakeView(working=[make_order(status=OrderStatus.OPEN), make_order(account_id="other")])
    assert check_max_open_orders(make_order(), limits, one) is None
    two = FakeView(working=[make_order(status=OrderStatus.OPEN), make_order(symbol=ETH)])
    assert check_max_open_orders(make_order(), limits, two) == (
        "account acc-1 has 2 working orders, max_open_orders is 2"
    )
    assert check_max_open_orders(make_order(), RiskLimits(max_open_orders=None), two) is None


def test_available_balance_for_a_buy_includes_the_taker_fee() -> None:
    limits = RiskLimits()
    order = make_order("buy", "1", price="100")
    assert check_available_balance(order, limits, FakeView(balances={"USDT": D("100.1")})) is None
    assert check_available_balance(order, limits, FakeView(balances={"USDT": D("100.0999")})) == (
        "insufficient USDT balance for BTC/USDT: order needs 100.1 including taker fee, available 100.0999"
    )
    market = make_order("buy", "2", type="market")
    enough = FakeView(prices={BTC: D(50)}, balances={"USDT": D("100.1")})
    assert check_available_balance(market, limits, enough) is None
    assert check_available_balance(market, limits, FakeView(balances={"USDT": D(10**9)})) == (
        "no market price for BTC/USDT"
    )


def test_available_balance_for_a_sell_needs_the_base_quantity() -> None:
    limits = RiskLimits()
    order = make_order("sell", "1", type="market")
    assert check_available_balance(order, limits, FakeView(balances={"BTC": D(1)})) is None
    assert check_available_balance(order, limits, FakeView(balances={"BTC": D("0.9999")})) == (
        "insufficient BTC balance for BTC/USDT: order needs 1, available 0.9999"
    )
    assert check_available_balance(order, RiskLimits(check_balance=False), FakeView()) is None


def test_available_balance_reports_an_unknown_instrument() -> None:
    order = make_order("sell", "1", symbol="DOGE/USDT")
    assert check_available_balance(order, RiskLimits(), FakeView()) == "unknown instrument DOGE/USDT"


def test_throttle_allows_up_to_the_limit_per_window() -> None:
    limits, view, order = RiskLimits(max_submits_per_second=3), FakeView(), make_order()
    assert check_throttle(order, limits, view, submits_in_window=2) is None
    assert check_throttle(order, limits, view, submits_in_window=3) == (
        "account acc-1 submitted 3 orders in the last second, max_submits_per_second is 3"
    )
    assert (
        check_throttle(order, RiskLimits(max_submits_per_second=None), view, submits_in_window=10**6) is None
    )


def test_halted_refuses_everything_with_the_reason() -> None:
    view = FakeView(positions={BTC: D(5)})
    reducing_sell = make_order("sell", "1")
    kw: dict[str, Any] = {"state": TradingState.HALTED, "reason": "exchange outage"}
    assert (
        check_trading_state(reducing_sell, RiskLimits(), view, **kw) == "trading is halted: exchange outage"
    )
    assert (
        check_trading_state(make_order(), RiskLimits(), view, state=TradingState.HALTED)
        == "trading is halted"
    )
    assert check_trading_state(make_order(), RiskLimits(), view, state=TradingState.ACTIVE) is None


def _reducing(order: Order, view: FakeView) -> str | None:
    return check_trading_state(order, RiskLimits(), view, state=TradingState.REDUCING, reason="drawdown")


def test_reducing_accepts_only_orders_that_shrink_the_position_without_flipping() -> None:
    long = FakeView(positions={BTC: D(2)})
    assert _reducing(make_order("sell", "1"), long) is None
    assert _reducing(make_order("sell", "2"), long) is None
    assert _reducing(make_order("sell", "2.0001"), long) == (
        "trading is reducing only (drawdown): sell 2.0001 BTC/USDT"
        " with 0 already working would flip position 2"
    )
    assert _reducing(make_order("buy", "0.1"), long) == (
        "trading is reducing only (drawdown): buy 0.1 BTC/USDT would increase position 2"
    )
    flat = FakeView()
    assert (
        _reducing(make_order("buy", "1"), flat)
        == "trading is reducing only (drawdown): no BTC/USDT position to reduce"
    )
    assert _reducing(make_order("sell", "1"), flat) is not None
    short = FakeView(positions={BTC: D(-2)})
    assert _reducing(make_order("buy", "2"), short) is None
    assert _reducing(make_order("sell", "1"), short) is not None


def test_reducing_counts_working_reducing_orders() -> None:
    working = [
        make_order("sell", "1.5", status=OrderStatus.OPEN),
        make_order("buy", "5"),
        make_order("sell", "9", symbol=ETH),
    ]
    view = FakeView(positions={BTC: D(2)}, working=working)
    assert _reducing(make_order("sell", "0.5"), view) is None
    assert _reducing(make_order("sell", "0.5001"), view) == (
        "trading is reducing only (drawdown): sell 0.5001 BTC/USDT"
        " with 1.5 already working would flip position 2"
    )


def test_reference_price_prefers_limit_then_stop_then_last() -> None:
    assert reference_price(make_order(type="stop_limit", price="101", stop_price="99"), D(50)) == D(101)
    assert reference_price(make_order(type="stop", stop_price="99"), D(50)) == D(99)
    assert reference_price(make_order(type="market"), D(50)) == D(50)
    assert reference_price(make_order(type="market"), None) is None
