"""The emulator's books on their own: reservations, fills, fees, stops, amendments, client id rules."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from tests.exchange_emulator.market import SAMPLE_BARS, MarketData
from tests.exchange_emulator.orders import Kind, NewOrder, Reject, Rejected, Side, Status, TimeInForce
from tests.exchange_emulator.state import VenueState
from tests.exchange_emulator.venues import VENUE_CLASSES

D = Decimal
BTC = "BTC/USDT"


def books(venue: str = "binance", usdt: str = "100000", btc: str = "2") -> VenueState:
    cls = VENUE_CLASSES[venue]
    market = MarketData(cls.instruments(), dict(SAMPLE_BARS))
    state = VenueState(
        venue, market, cls.rules(), {"USDT": D(usdt), "BTC": D(btc), "ETH": D(0)}, clock=lambda: 1
    )
    state.set_price(BTC, D("80000"))
    return state


def limit(side: Side, qty: str, price: str, cid: str | None = None, **kw: object) -> NewOrder:
    return NewOrder(BTC, side, Kind.LIMIT, D(qty), D(price), client_order_id=cid, **kw)  # type: ignore[arg-type]


def test_a_resting_buy_reserves_quote_and_a_cancel_releases_it() -> None:
    state = books()
    order = state.place(limit(Side.BUY, "0.1", "79000"))
    assert (state.balances["USDT"].free, state.balances["USDT"].locked) == (D("92100"), D("7900"))
    state.cancel(order.order_id)
    assert (state.balances["USDT"].free, state.balances["USDT"].locked) == (D("100000"), D(0))
    state.check_invariants()


def test_partial_then_full_fill_pays_the_limit_price_with_the_fee_in_the_asset_received() -> None:
    state = books()
    order = state.place(limit(Side.BUY, "0.1", "79000"))
    state.fill(order.order_id, D("0.04"))
    assert order.status == Status.PARTIALLY_FILLED and state.balances["USDT"].locked == D("4740")
    state.set_price(BTC, D("78900"))  # best ask 78907.89 <= 79000: the rest fills as maker
    assert state.orders[order.order_id].status is Status.FILLED and order.filled == D("0.1")
    assert state.balances["BTC"].total == D("2.0999")  # 0.1 minus 0.1% fee in BTC
    assert state.balances["USDT"].total == D("92100") and state.balances["USDT"].locked == 0
    assert [f.maker for f in order.fills] == [True, True]
    state.check_invariants()


def test_kraken_charges_fees_in_quote_and_reserves_them() -> None:
    state = books("kraken")
    order = state.place(limit(Side.BUY, "0.1", "79000"))
    assert state.balances["USDT"].locked == D("7900") + D("20.54") + D("0.000001")  # 0.26% fee reserved
    state.fill(order.order_id)
    assert order.fee == D("12.64") and order.fee_asset == "USDT"  # maker 0.16%
    assert state.balances["BTC"].total == D("2.1") and state.balances["USDT"].total == D("92087.36")
    state.check_invariants()


def test_a_large_market_buy_walks_the_book_level_by_level() -> None:
    state = books()
    order = state.place(NewOrder(BTC, Side.BUY, Kind.MARKET, D("1")))
    prices = [f.price for f in order.fills]
    assert order.status is Status.FILLED and len(prices) > 1 and prices == sorted(prices)
    assert prices[0] == state.market.best_ask(BTC) and order.cost == sum(
        f.price * f.quantity for f in order.fills
    )
    state.check_invariants()


def test_refusals_change_nothing() -> None:
    state = books(usdt="1000")
    with pytest.raises(Rejected) as broke:
        state.place(NewOrder(BTC, Side.BUY, Kind.MARKET, D("0.1")))
    with pytest.raises(Rejected) as lot:
        state.place(limit(Side.BUY, "0.000001", "79000"))
    with pytest.raises(Rejected) as tick:
        state.place(limit(Side.BUY, "0.001", "79000.001"))
    with pytest.raises(Rejected) as small:
        state.place(limit(Side.BUY, "0.00002", "79000"))
    assert [e.value.reason for e in (broke, lot, tick, small)] == [
        Reject.INSUFFICIENT_BALANCE,
        Reject.BAD_QUANTITY,
        Reject.BAD_PRICE,
        Reject.MIN_NOTIONAL,
    ]
    assert not state.orders and state.balances["USDT"].free == D("1000")


def test_a_quote_sized_market_buy_spends_at_most_the_quote_amount() -> None:
    state = books()
    order = state.place(NewOrder(BTC, Side.BUY, Kind.MARKET, None, quote_quantity=D("1000")))
    assert order.status is Status.FILLED and 0 < order.cost <= D("1000")
    assert order.quantity == order.filled == D("0.01249")
    state.check_invariants()


def test_stops_trigger_on_the_move_and_binance_refuses_one_that_would_fire_at_once() -> None:
    state = books()
    stop = state.place(
        NewOrder(BTC, Side.SELL, Kind.STOP_LIMIT, D("0.1"), D("78000"), trigger_price=D("78500"))
    )
    assert stop.status == Status.UNTRIGGERED and state.balances["BTC"].locked == D("0.1")
    with pytest.raises(Rejected, match="would_trigger"):
        state.place(NewOrder(BTC, Side.SELL, Kind.STOP_MARKET, D("0.1"), trigger_price=D("80500")))
    state.set_price(BTC, D("78400"))
    stop = state.orders[stop.order_id]
    assert stop.status is Status.FILLED and stop.triggered_ms is not None and not stop.fills[0].maker
    bybit = books("bybit")
    # Bybit infers the direction from the last price; a trigger at the last price fires at once
    below = bybit.place(NewOrder(BTC, Side.BUY, Kind.STOP_MARKET, D("0.1"), trigger_price=D("79000")))
    fired = bybit.place(NewOrder(BTC, Side.BUY, Kind.STOP_MARKET, D("0.1"), trigger_price=D("80000")))
    assert (below.status, below.trigger_rises, fired.status) == (Status.UNTRIGGERED, False, Status.FILLED)
    state.check_invariants()
    bybit.check_invariants()


def test_an_amendment_re_reserves_and_cannot_go_below_the_filled_quantity() -> None:
    state = books("okx")
    order = state.place(limit(Side.BUY, "0.1", "79000"))
    state.fill(order.order_id, D("0.05"))
    state.amend(order, D("0.2"), D("78000"))
    assert state.balances["USDT"].locked == D("0.15") * D("78000") and order.amendments == 1
    with pytest.raises(Rejected):
        state.amend(order, D("0.05"), None)
    with pytest.raises(Rejected):
        state.amend(order, D("100"), None)  # cannot pay for it: the old order stays as it was
    assert order.quantity == D("0.2") and state.balances["USDT"].locked == D("11700")
    state.check_invariants()


def test_client_order_ids_are_unique_among_open_orders_or_forever_per_venue() -> None:
    binance, bybit = books(), books("bybit")
    for state in (binance, bybit):
        first = state.place(limit(Side.BUY, "0.01", "70000", "cid-1"))
        with pytest.raises(Rejected, match="duplicate"):
            state.place(limit(Side.BUY, "0.01", "70000", "cid-1"))
        state.cancel(first.order_id)
    assert binance.place(limit(Side.BUY, "0.01", "70000", "cid-1")).client_order_id == "cid-1"
    with pytest.raises(Rejected, match="duplicate"):
        bybit.place(limit(Side.BUY, "0.01", "70000", "cid-1"))


def test_fok_and_ioc_never_rest() -> None:
    state = books()
    fok = state.place(limit(Side.BUY, "50", "80010", time_in_force=TimeInForce.FOK))
    ioc = state.place(limit(Side.BUY, "1", "80010", time_in_force=TimeInForce.IOC))
    assert (fok.status, fok.filled) == (Status.EXPIRED, D(0))
    assert ioc.status is Status.EXPIRED and 0 < ioc.filled < 1
    with pytest.raises(Rejected, match="post_only"):
        state.place(limit(Side.BUY, "0.1", "80010", time_in_force=TimeInForce.POST_ONLY))
    state.check_invariants()


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx", "kraken"])
def test_random_operations_keep_balances_reserved_and_never_negative(venue: str) -> None:
    state, rng = books(venue, usdt="20000", btc="0.3"), random.Random(5)
    for _ in range(400):
        roll = rng.random()
        price = D(78000 + rng.randrange(-1500, 1500, 10))
        side = rng.choice([Side.BUY, Side.SELL])
        try:
            if roll < 0.4:
                state.place(limit(side, str(rng.choice([0.01, 0.02, 0.05])), str(price)))
            elif roll < 0.5:
                state.place(NewOrder(BTC, side, Kind.MARKET, D("0.01")))
            elif roll < 0.6 and state.open_orders():
                state.cancel(rng.choice(state.open_orders()).order_id)
            elif roll < 0.7 and state.open_orders():
                state.amend(rng.choice(state.open_orders()), None, price)
            else:
                state.set_price(BTC, price)
        except Rejected as refused:
            assert refused.reason in (Reject.INSUFFICIENT_BALANCE, Reject.WOULD_TRIGGER)
        state.check_invariants()
    assert state.fills and any(o.status is Status.FILLED for o in state.orders.values())
