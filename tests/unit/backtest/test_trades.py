"""Round trips from fills: longs, shorts, scaling, partial closes, flips with exact fee splits."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.backtest.factories import MINUTE, fill

from tradeforge.backtest.trades import FEE_QUANTUM, RoundTripTracker, TradeSide, round_trips, split_fee
from tradeforge.domain.balances import fill_cash_flows
from tradeforge.domain.fills import Fill

D = Decimal


def test_a_long_round_trip_nets_its_fees() -> None:
    trips = round_trips(
        [fill("buy", "1", "100", "0.1", ts=0), fill("sell", "1", "110", "0.11", ts=5 * MINUTE)],
        bar_interval_ms=MINUTE,
    )
    assert len(trips) == 1
    trip = trips[0]
    assert trip.side is TradeSide.LONG and trip.symbol == "BTC/USDT"
    assert (trip.quantity, trip.entry_price, trip.exit_price) == (D(1), D(100), D(110))
    assert (trip.gross_pnl, trip.fees, trip.net_pnl) == (D(10), D("0.21"), D("9.79"))
    assert (trip.entry_ts, trip.exit_ts, trip.duration_ms, trip.bars_held) == (0, 5 * MINUTE, 5 * MINUTE, 5)


def test_a_short_round_trip_gains_when_the_price_falls() -> None:
    (trip,) = round_trips([fill("sell", "2", "100", ts=1), fill("buy", "2", "90", ts=2)])
    assert trip.side is TradeSide.SHORT
    assert trip.gross_pnl == D(20) and trip.net_pnl == D(20)
    assert trip.bars_held is None  # no bar interval given


def test_scaling_in_and_partial_closes_make_one_trip_with_volume_weighted_prices() -> None:
    fills = [
        fill("buy", "1", "100", "0.1", ts=1),
        fill("buy", "1", "110", "0.1", ts=2),
        fill("sell", "0.5", "120", "0.05", ts=3),
        fill("sell", "1.5", "116", "0.15", ts=4),
    ]
    tracker = RoundTripTracker()
    closed = [tracker.add(f) for f in fills]
    assert closed[:3] == [None, None, None]  # a partial close keeps the trip open
    trip = closed[3]
    assert trip is not None
    assert trip.quantity == D(2)
    assert trip.entry_price == D(105) and trip.exit_price == D(117)
    assert trip.gross_pnl == D(24) and trip.fees == D("0.4") and trip.net_pnl == D("23.6")
    assert (trip.entry_ts, trip.exit_ts) == (1, 4)
    assert tracker.open_trips() == []


def test_a_flip_closes_one_trip_and_opens_the_next_with_the_fee_split_by_quantity() -> None:
    trips = round_trips(
        [
            fill("buy", "1", "100", "0.1", ts=1),
            fill("sell", "3", "90", "0.3", ts=2),  # closes 1 long, opens 2 short
            fill("buy", "2", "80", "0.16", ts=3),
        ]
    )
    long, short = trips
    assert long.side is TradeSide.LONG and long.quantity == D(1)
    assert long.gross_pnl == D(-10) and long.fees == D("0.2") and long.net_pnl == D("-10.2")
    assert (long.entry_ts, long.exit_ts) == (1, 2)
    assert short.side is TradeSide.SHORT and short.quantity == D(2)
    assert short.entry_price == D(90) and short.exit_price == D(80)
    assert short.gross_pnl == D(20) and short.fees == D("0.36") and short.net_pnl == D("19.64")
    assert (short.entry_ts, short.exit_ts) == (2, 3)


def test_a_non_terminating_fee_split_still_adds_up_exactly() -> None:
    trips = round_trips(
        [fill("buy", "1", "100", ts=1), fill("sell", "3", "100", "1", ts=2), fill("buy", "2", "100", ts=3)]
    )
    first, second = trips
    assert first.fees == D("0.33333333333333333333")  # 1/3 rounded to FEE_QUANTUM
    assert second.fees == D("0.66666666666666666667")
    assert first.fees + second.fees == D(1)
    share, rest = split_fee(D("0.3"), D(1), D(3))
    assert (share, rest) == (D("0.1"), D("0.2"))  # a terminating share is not rounded
    assert D(1).quantize(FEE_QUANTUM) == D("1.00000000000000000000")


def test_an_open_position_at_the_end_is_not_a_round_trip() -> None:
    tracker = RoundTripTracker()
    for f in (
        fill("buy", "1", "100", "0.1", ts=1),
        fill("sell", "1", "101", ts=2),
        fill("buy", "2", "99", ts=3),
    ):
        tracker.add(f)
    open_trip = tracker.open_trip("BTC/USDT")
    assert open_trip is not None
    assert open_trip.side is TradeSide.LONG and open_trip.open_quantity == D(2)
    assert open_trip.entry_ts == 3 and open_trip.entry_price == D(99)
    assert len(round_trips([fill("buy", "1", "100"), fill("sell", "1", "101"), fill("buy", "2", "99")])) == 1


def test_symbols_are_tracked_independently() -> None:
    trips = round_trips(
        [
            fill("buy", "1", "100", ts=1, symbol="BTC/USDT"),
            fill("sell", "10", "5", ts=2, symbol="ETH/USDT"),
            fill("sell", "1", "120", ts=3, symbol="BTC/USDT"),
            fill("buy", "10", "4", ts=4, symbol="ETH/USDT"),
        ]
    )
    assert [(t.symbol, t.side, t.net_pnl) for t in trips] == [
        ("BTC/USDT", TradeSide.LONG, D(20)),
        ("ETH/USDT", TradeSide.SHORT, D(10)),
    ]


def test_fills_that_cannot_be_accounted_are_refused() -> None:
    with pytest.raises(ValueError, match="quote asset USDT"):
        round_trips([fill("buy", "1", "100", "0.001", fee_asset="BNB")])
    with pytest.raises(ValueError, match="positive"):
        round_trips([fill("buy", "0", "100")])
    with pytest.raises(ValueError, match="bar_interval_ms"):
        RoundTripTracker(bar_interval_ms=0)
    # A zero fee in another asset charges nothing, so it is accepted.
    assert round_trips([fill("buy", "1", "1", fee_asset="BNB"), fill("sell", "1", "2")])[0].net_pnl == D(1)


def test_to_dict_is_json_friendly_with_decimal_strings() -> None:
    (trip,) = round_trips([fill("buy", "0.5", "100.10", "0.05", ts=1), fill("sell", "0.5", "100.30", ts=2)])
    assert trip.to_dict() == {
        "symbol": "BTC/USDT",
        "side": "long",
        "quantity": "0.5",
        "entry_ts": 1,
        "exit_ts": 2,
        "entry_price": "100.1",
        "exit_price": "100.3",
        "gross_pnl": "0.1",
        "fees": "0.05",
        "net_pnl": "0.05",
        "bars_held": None,
    }


_amounts = st.integers(min_value=1, max_value=500_000_000).map(lambda n: Decimal(n).scaleb(-8))
_prices = st.integers(min_value=1, max_value=10_000_000).map(lambda n: Decimal(n).scaleb(-2))
_fees = st.integers(min_value=0, max_value=1_000_000).map(lambda n: Decimal(n).scaleb(-8))


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["BTC/USDT", "ETH/USDT"]), st.booleans(), _amounts, _prices, _fees),
        min_size=1,
        max_size=40,
    ),
    close_prices=st.tuples(_prices, _prices),
)
def test_net_pnl_of_trips_that_end_flat_equals_the_fills_cash_flows_exactly(
    steps: list[tuple[str, bool, Decimal, Decimal, Decimal]], close_prices: tuple[Decimal, Decimal]
) -> None:
    fills: list[Fill] = []
    positions = {"BTC/USDT": Decimal(0), "ETH/USDT": Decimal(0)}
    returns_to_zero = 0
    for ts, (symbol, buy, amount, price, fee) in enumerate(steps):
        fills.append(fill("buy" if buy else "sell", str(amount), str(price), str(fee), ts=ts, symbol=symbol))
        before = positions[symbol]
        positions[symbol] += amount if buy else -amount
        if before != 0 and (positions[symbol] == 0 or (before > 0) != (positions[symbol] > 0)):
            returns_to_zero += 1
    for (symbol, quantity), price in zip(positions.items(), close_prices, strict=True):
        if quantity != 0:  # flatten at the end so every trip closes
            side = "sell" if quantity > 0 else "buy"
            fills.append(fill(side, str(abs(quantity)), str(price), "0.01", ts=len(fills), symbol=symbol))
            returns_to_zero += 1

    trips = round_trips(fills)

    with localcontext() as context:
        context.prec = 80
        cash = sum((fill_cash_flows(f, f.symbol.split("/")[0], "USDT")["USDT"] for f in fills), Decimal(0))
        assert sum((t.net_pnl for t in trips), Decimal(0)) == cash
        assert sum((t.fees for t in trips), Decimal(0)) == sum((f.fee for f in fills), Decimal(0))
        for t in trips:
            assert t.net_pnl == t.gross_pnl - t.fees
            assert t.quantity > 0 and t.exit_ts >= t.entry_ts
            # gross pnl is exact; the averages reproduce it up to their 28-digit rounding
            direction = 1 if t.side is TradeSide.LONG else -1
            approx = direction * (t.exit_price - t.entry_price) * t.quantity
            assert abs(approx - t.gross_pnl) <= abs(t.gross_pnl) * Decimal("1e-20") + Decimal("1e-12")
    assert len(trips) == returns_to_zero
