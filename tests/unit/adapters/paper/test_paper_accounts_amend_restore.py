"""Paper venue balances and reservations, fees, slippage, cancel, amend, restore and re-entrant sinks."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
from tests.unit.adapters.paper.paper_harness import (
    BUY,
    GTD,
    LIMIT,
    MARKET,
    SELL,
    STOP,
    STOP_LIMIT,
    D,
    FakeClock,
    Harness,
    btc_usdt,
)

from tradeforge.adapters.paper import FixedBps, PaperVenue, PaperVenueConfig, VolumeShareSlippage
from tradeforge.domain.data import Bar
from tradeforge.domain.events import OrderAmended, OrderEvent, OrderFilled
from tradeforge.domain.fills import Liquidity
from tradeforge.domain.orders import Order, OrderStatus
from tradeforge.ports.venue import Venue, VenueRequestRefused

# -- balances and reservations ---------------------------------------------------------------------


def test_paper_venue_satisfies_the_venue_port() -> None:
    venue: Venue = PaperVenue([btc_usdt()], FakeClock())
    assert venue.name == "paper"
    assert [instrument.symbol for instrument in venue.instruments()] == ["BTC/USDT"]


def test_insufficient_balance_is_rejected_naming_asset_needed_and_free() -> None:
    h = Harness()
    buy = h.submit(BUY, LIMIT, "200", price="100")
    sell = h.submit(SELL, LIMIT, "11", price="100")
    assert buy.reject_reason == "insufficient USDT balance: needed 20040, free 10000"
    assert sell.reject_reason == "insufficient BTC balance: needed 11, free 10"
    assert h.balance("USDT").locked == 0 and h.balance("BTC").locked == 0


def test_locks_reduce_what_later_orders_can_use() -> None:
    h = Harness()
    h.submit(BUY, LIMIT, "50", price="100")  # locks 5010 USDT
    second = h.submit(BUY, LIMIT, "50", price="100")
    assert second.status is OrderStatus.REJECTED
    assert second.reject_reason == "insufficient USDT balance: needed 5010, free 4990"
    usdt = h.balance("USDT")
    assert (usdt.total, usdt.locked, usdt.free) == (D("10000"), D("5010"), D("4990"))


def test_market_and_stop_buys_reserve_with_the_buffer() -> None:
    h = Harness(PaperVenueConfig(market_reservation_buffer=D("0.1")))
    h.bar("100", "101", "99", "100")
    h.submit(BUY, STOP, "2", stop="120")
    assert h.balance("USDT").locked == D("2") * D("120") * D("1.1") * D("1.002")
    h.submit(SELL, STOP_LIMIT, "3", price="90", stop="95")
    assert h.balance("BTC").locked == D("3")


def test_market_buy_never_spends_more_than_the_account_has() -> None:
    h = Harness(PaperVenueConfig(fill_market_on_submit=False), {"acc": {"USDT": D("1000")}})
    h.bar("100", "101", "99", "100")
    order = h.submit(BUY, MARKET, "9")
    assert order.status is OrderStatus.OPEN
    h.bar("200", "201", "199", "200")  # gap far beyond the 5 % reservation buffer
    (fill,) = h.fills_of(order)
    assert fill.quantity == D("4.99") and fill.price == D("200")
    assert order.status is OrderStatus.CANCELLED
    usdt = h.balance("USDT")
    assert usdt.total == D("1000") - D("998") - D("1.996") and usdt.total >= 0 and usdt.locked == 0


def test_market_buy_without_any_balance_is_cancelled_when_it_would_fill() -> None:
    h = Harness(balances={"acc": {"BTC": D("1")}})
    order = h.submit(BUY, MARKET, "1")  # no price yet: nothing to size a reservation on
    assert order.status is OrderStatus.OPEN
    h.bar("100", "101", "99", "100")
    assert order.status is OrderStatus.CANCELLED and h.fills == []
    assert order.reject_reason is None


# -- fees and slippage -----------------------------------------------------------------------------


def test_fees_are_maker_for_resting_and_taker_for_immediate_fills() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100")
    resting = h.submit(SELL, LIMIT, "2", price="100.5")
    taker = h.submit(SELL, MARKET, "1")
    h.bar("100", "101", "99.5", "100.7")
    maker_fill = h.fills_of(resting)[0]
    taker_fill = h.fills_of(taker)[0]
    assert (maker_fill.liquidity, maker_fill.fee) == (Liquidity.MAKER, D("2") * D("100.5") * D("0.001"))
    assert (taker_fill.liquidity, taker_fill.fee) == (Liquidity.TAKER, D("100") * D("0.002"))
    assert {fill.fee_asset for fill in h.fills} == {"USDT"}
    assert h.balance("USDT").total == h.expected_totals()["USDT"]


def test_fixed_bps_slippage_rounds_against_the_trader() -> None:
    h = Harness(PaperVenueConfig(slippage=FixedBps(D("10"))))
    h.bar("100", "101", "99", "100.5")
    buy = h.submit(BUY, MARKET, "1")
    sell = h.submit(SELL, MARKET, "1")
    assert h.fills_of(buy)[0].price == D("100.61")  # 100.6005 rounded up
    assert h.fills_of(sell)[0].price == D("100.39")  # 100.3995 rounded down


def test_volume_share_slippage_grows_with_the_order_share_of_volume() -> None:
    h = Harness(PaperVenueConfig(slippage=VolumeShareSlippage(D("0.1"))))
    h.bar("100", "101", "99", "100.5", volume="10")
    small = h.submit(BUY, MARKET, "1")
    large = h.submit(BUY, MARKET, "5")
    # 100.5 * (1 + 0.1 * 0.1**2) = 100.6005 -> 100.61; 100.5 * (1 + 0.1 * 0.5**2) = 103.0125 -> 103.02
    assert h.fills_of(small)[0].price == D("100.61")
    assert h.fills_of(large)[0].price == D("103.02")


def test_slippage_applies_to_stops_but_not_to_maker_fills() -> None:
    h = Harness(PaperVenueConfig(slippage=FixedBps(D("100"))))
    h.bar("100", "101", "99", "100")
    limit = h.submit(BUY, LIMIT, "1", price="99.5")
    stop = h.submit(SELL, STOP, "1", stop="99.2")
    h.bar("100", "100.5", "99", "99.5")
    assert h.fills_of(limit)[0].price == D("99.5")
    assert h.fills_of(stop)[0].price == D("98.20")  # 99.2 * 0.99 = 98.208 rounded down


def test_marketable_limit_never_fills_beyond_its_limit_despite_slippage() -> None:
    h = Harness(PaperVenueConfig(slippage=FixedBps(D("10"))))
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, LIMIT, "1", price="100.55")
    assert h.fills_of(order)[0].price == D("100.55")


# -- cancel and amend ------------------------------------------------------------------------------


def test_cancel_releases_the_lock_and_a_second_cancel_is_refused() -> None:
    h = Harness()
    order = h.submit(BUY, LIMIT, "1", price="99")
    h.venue.cancel(order)
    assert h.kinds(order) == ["OrderAccepted", "OrderCancelled"]
    assert h.balance("USDT").locked == 0
    with pytest.raises(VenueRequestRefused):
        h.venue.cancel(order)
    never_sent = h.order(BUY, LIMIT, "1", price="99")
    with pytest.raises(VenueRequestRefused):
        h.venue.cancel(never_sent)


def test_amend_changes_quantity_price_and_reservation() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, LIMIT, "1", price="99")
    h.venue.amend(order, D("2"), D("98"))
    amended = h.events[-1]
    assert isinstance(amended, OrderAmended)
    assert (amended.quantity, amended.price, amended.stop_price) == (D("2"), D("98"), None)
    assert (order.quantity, order.price) == (D("2"), D("98"))
    assert h.balance("USDT").locked == D("2") * D("98") * D("1.002")


def test_amend_to_a_marketable_price_fills_at_once_in_live_mode() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, LIMIT, "1", price="99")
    h.venue.amend(order, D("1"), D("101"))
    assert h.kinds(order) == ["OrderAccepted", "OrderAmended", "OrderFilled"]
    assert h.fills_of(order)[0].price == D("100.5")


def test_amend_refusals_change_nothing() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5", volume="0.5")
    partly = h.submit(BUY, MARKET, "1")
    assert partly.filled_quantity == D("0.5")
    limit = h.submit(BUY, LIMIT, "1", price="99")
    before = (h.venue.balances("acc"), len(h.events))
    with pytest.raises(VenueRequestRefused, match="above the filled quantity"):
        h.venue.amend(partly, D("0.5"), None)
    with pytest.raises(VenueRequestRefused, match="no limit price"):
        h.venue.amend(partly, D("1"), D("100"))
    with pytest.raises(VenueRequestRefused, match="insufficient USDT balance"):
        h.venue.amend(limit, D("500"), None)
    with pytest.raises(VenueRequestRefused, match="tick size"):
        h.venue.amend(limit, D("1"), D("99.001"))
    assert (h.venue.balances("acc"), len(h.events)) == before
    assert (limit.quantity, limit.price) == (D("1"), D("99"))
    h.venue.cancel(limit)
    with pytest.raises(VenueRequestRefused, match="not working"):
        h.venue.amend(limit, D("2"), None)


def test_amend_quantity_of_a_partially_filled_order() -> None:
    h = Harness(PaperVenueConfig(max_volume_share=D("0.5")))
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, LIMIT, "2", price="99.5")
    h.bar("100", "100", "99", "99.2", volume="1")
    assert order.filled_quantity == D("0.5")
    h.venue.amend(order, D("0.8"), None)
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert h.balance("USDT").locked == D("0.3") * D("99.5") * D("1.002")
    h.bar("100", "100", "99", "99.2", volume="1")
    assert order.status is OrderStatus.FILLED and order.filled_quantity == D("0.8")


def test_amend_that_grows_an_order_loses_time_priority() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    first = h.submit(BUY, LIMIT, "1", price="99.5")
    second = h.submit(BUY, LIMIT, "1", price="99.5")
    h.venue.amend(first, D("2"), None)
    h.bar("100", "100", "99", "99.2", volume="1")
    assert second.status is OrderStatus.FILLED and first.filled_quantity == 0


def test_amend_stop_limit_price_keeps_its_stop() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(SELL, STOP_LIMIT, "1", price="98", stop="99")
    h.venue.amend(order, D("1"), D("97.5"))
    assert (order.price, order.stop_price) == (D("97.5"), D("99"))
    h.bar("100", "100", "97", "97.2")
    assert h.kinds(order) == ["OrderAccepted", "OrderAmended", "OrderTriggered", "OrderFilled"]
    assert h.fills_of(order)[0].price == D("99")


# -- identity and re-entrancy ----------------------------------------------------------------------


def test_resubmitting_a_held_order_changes_nothing_and_duplicate_client_ids_are_rejected() -> None:
    h = Harness()
    order = h.submit(BUY, LIMIT, "1", price="99")
    h.venue.submit(order)
    assert h.kinds(order) == ["OrderAccepted"]
    twin = replace(h.order(BUY, LIMIT, "1", price="99"), client_order_id=order.client_order_id)
    h.orders[twin.id] = twin
    h.venue.submit(twin)
    assert twin.reject_reason == f"duplicate client_order_id {order.client_order_id}"


def test_a_sink_calling_back_in_sees_a_consistent_venue() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5", volume="1.5")
    follow_up: list[Order] = []

    def sink(event: OrderEvent) -> None:
        h.on_event(event)
        if isinstance(event, OrderFilled) and not follow_up:
            follow_up.append(h.submit(SELL, MARKET, "1"))
            h.venue.cancel(h.orders[event.order_id])  # the rest of the first order

    h.venue.bind(sink)
    first = h.submit(BUY, MARKET, "2")
    assert first.status is OrderStatus.CANCELLED and first.filled_quantity == D("1.5")
    assert follow_up[0].status is OrderStatus.OPEN  # the last bar's volume is used up
    assert h.kinds(first) == ["OrderAccepted", "OrderFilled", "OrderCancelled"]
    assert h.balance("USDT").locked == 0 and h.balance("BTC").locked == 1


# -- restore ---------------------------------------------------------------------------------------


def test_restore_rebuilds_orders_and_locks_and_keeps_matching_the_same_way() -> None:
    config = PaperVenueConfig(max_volume_share=D("0.5"))
    h = Harness(config)
    h.bar("100", "101", "99", "100.5")
    partial = h.submit(BUY, LIMIT, "2", price="99.5")
    stop = h.submit(SELL, STOP, "1", stop="98")
    gtd = h.submit(SELL, LIMIT, "0.5", price="103", tif=GTD, expire_at=h.clock.now + 10 * 60_000)
    triggered = h.submit(BUY, STOP_LIMIT, "1", price="99.8", stop="100.9")
    h.bar("100", "101", "99", "99.2", volume="1")
    assert partial.status is OrderStatus.PARTIALLY_FILLED and triggered.triggered
    working = [copy.copy(order) for order in h.orders.values() if order.is_working]
    assert {order.id for order in working} == {partial.id, stop.id, gtd.id, triggered.id}

    clock = FakeClock(h.clock.now)
    restored = PaperVenue([btc_usdt()], clock, config, {"acc": {"USDT": D("1"), "DOGE": D("5")}})
    copies = {order.id: order for order in working}
    events: list[OrderEvent] = []

    def sink(event: OrderEvent) -> None:
        copies[event.order_id].apply(event)
        events.append(event)

    restored.bind(sink)
    restored.restore(working, h.venue.balances("acc"))
    assert events == []
    assert restored.balances("acc") == h.venue.balances("acc")
    assert restored.balances("acc")[0].locked > 0

    bar = Bar("BTC/USDT", "1m", clock.now, D("99.6"), D("103.5"), D("97.5"), D("98"), D("3"))
    clock.now = h.clock.now = h.clock.now + 60_000
    h.venue.on_bar(bar)
    restored.on_bar(bar)
    original_fills = [(f.order_id, f.quantity, f.price) for f in h.fills if f.ts == h.clock.now]
    restored_fills = [
        (e.fill.order_id, e.fill.quantity, e.fill.price) for e in events if isinstance(e, OrderFilled)
    ]
    assert restored_fills == original_fills and restored_fills
    assert restored.balances("acc") == h.venue.balances("acc")
    assert {order.id: order.status for order in copies.values()} == {
        order.id: h.orders[order.id].status for order in working
    }


def test_restore_keeps_venue_order_ids_unique_and_submits_pending_orders() -> None:
    h = Harness()
    h.submit(BUY, LIMIT, "1", price="90")
    h.submit(BUY, LIMIT, "1", price="91")
    held = [copy.copy(order) for order in h.orders.values()]
    pending = h.order(BUY, LIMIT, "1", price="92")
    restored = PaperVenue([btc_usdt()], FakeClock(h.clock.now))
    copies = {order.id: order for order in [*held, pending]}
    restored.bind(lambda event: copies[event.order_id].apply(event))
    restored.restore([*held, pending], h.venue.balances("acc"))
    assert pending.status is OrderStatus.OPEN and pending.venue_order_id == "P3"
    assert restored.balances("acc")[1].locked == D("273") * D("1.002")


def test_restore_cancels_orders_for_instruments_the_venue_does_not_list() -> None:
    h = Harness()
    held = h.submit(BUY, LIMIT, "1", price="90")
    restored = PaperVenue([], FakeClock(h.clock.now))
    events: list[OrderEvent] = []
    restored.bind(events.append)
    copy_of_held = copy.copy(held)
    restored.restore([copy_of_held], h.venue.balances("acc"))
    assert [type(event).__name__ for event in events] == ["OrderCancelled"]
    copy_of_held.apply(events[0])
    assert copy_of_held.status is OrderStatus.CANCELLED
    assert all(balance.locked == 0 for balance in restored.balances("acc"))
