"""Paper venue order types, time in force and the bar matching rules."""

from __future__ import annotations

from decimal import Decimal

from tests.unit.adapters.paper.paper_harness import (
    BUY,
    FOK,
    GTD,
    IOC,
    LIMIT,
    MARKET,
    MINUTE,
    SELL,
    STOP,
    STOP_LIMIT,
    D,
    Harness,
)

from tradeforge.adapters.paper import PaperVenueConfig
from tradeforge.domain.events import OrderCancelled, OrderRejected
from tradeforge.domain.fills import Liquidity
from tradeforge.domain.orders import OrderStatus

BACKTEST = PaperVenueConfig(fill_market_on_submit=False)


def reason_of(h: Harness, order_id: str) -> str:
    for event in h.events:
        if event.order_id == order_id and isinstance(event, OrderRejected | OrderCancelled):
            return event.reason
    raise AssertionError(f"no rejection or cancellation for {order_id}")


# -- market orders ---------------------------------------------------------------------------------


def test_market_buy_fills_at_last_close_as_taker_in_live_mode() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, MARKET, "1")
    assert h.kinds(order) == ["OrderAccepted", "OrderFilled"]
    assert order.status is OrderStatus.FILLED
    assert order.venue_order_id == "P1"
    (fill,) = h.fills_of(order)
    assert (fill.price, fill.quantity, fill.liquidity) == (D("100.5"), D("1"), Liquidity.TAKER)
    assert fill.fee == D("100.5") * D("0.002") and fill.fee_asset == "USDT"
    assert fill.ts == h.clock.now
    assert h.balance("USDT").total == D("10000") - D("100.5") - D("0.201")
    assert h.balance("BTC").total == D("11")
    assert h.balance("USDT").locked == 0 and h.balance("BTC").locked == 0


def test_market_sell_fills_at_last_close() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(SELL, MARKET, "2")
    assert order.status is OrderStatus.FILLED
    assert h.balance("BTC").total == D("8")
    assert h.balance("USDT").total == D("10000") + D("201") - D("0.402")


def test_market_order_without_market_data_waits_for_the_first_bar_open() -> None:
    h = Harness()
    order = h.submit(BUY, MARKET, "1")
    assert order.status is OrderStatus.OPEN
    assert h.venue.last_price("BTC/USDT") is None
    h.bar("100", "101", "99", "100.5")
    assert order.status is OrderStatus.FILLED
    assert h.fills_of(order)[0].price == D("100")
    assert h.venue.last_price("BTC/USDT") == D("100.5")


def test_immediate_orders_without_market_data_are_rejected() -> None:
    h = Harness()
    ioc = h.submit(BUY, MARKET, "1", tif=IOC)
    fok = h.submit(SELL, LIMIT, "1", price="100", tif=FOK)
    for order in (ioc, fok):
        assert order.status is OrderStatus.REJECTED
        assert order.reject_reason is not None and "no market data" in order.reject_reason


def test_backtest_mode_market_order_fills_at_next_bar_open() -> None:
    h = Harness(BACKTEST)
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, MARKET, "1")
    assert order.status is OrderStatus.OPEN
    assert h.balance("USDT").locked == D("1") * D("100.5") * D("1.05") * D("1.002")
    h.bar("102", "103", "101", "102.5")
    assert order.status is OrderStatus.FILLED
    (fill,) = h.fills_of(order)
    assert fill.price == D("102") and fill.liquidity is Liquidity.TAKER
    assert h.balance("USDT").locked == 0


def test_backtest_mode_limit_marketable_at_open_is_taker_else_rests_as_maker() -> None:
    h = Harness(BACKTEST)
    h.bar("100", "101", "99", "100.5")
    taker = h.submit(BUY, LIMIT, "1", price="101")
    maker = h.submit(BUY, LIMIT, "1", price="99.5")
    h.bar("100.8", "101", "99", "99.7")
    assert h.fills_of(taker)[0].price == D("100.8")
    assert h.fills_of(taker)[0].liquidity is Liquidity.TAKER
    assert h.fills_of(maker)[0].price == D("99.5")
    assert h.fills_of(maker)[0].liquidity is Liquidity.MAKER


def test_backtest_mode_ioc_market_fills_what_the_next_bar_allows() -> None:
    h = Harness(BACKTEST)
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, MARKET, "1", tif=IOC)
    assert order.status is OrderStatus.OPEN
    h.bar("100", "101", "99", "100.5", volume="0.4")
    assert order.filled_quantity == D("0.4")
    assert order.status is OrderStatus.CANCELLED
    assert h.balance("USDT").locked == 0


# -- limit orders ----------------------------------------------------------------------------------


def test_resting_buy_limit_fills_at_limit_when_bar_trades_through() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, LIMIT, "1", price="99.5")
    assert h.kinds(order) == ["OrderAccepted"]
    assert h.balance("USDT").locked == D("99.5") * D("1.002")
    h.bar("100", "100.2", "99.4", "99.8")
    (fill,) = h.fills_of(order)
    assert (fill.price, fill.liquidity, fill.fee) == (D("99.5"), Liquidity.MAKER, D("0.0995"))
    assert h.balance("USDT").total == D("10000") - D("99.5") - D("0.0995")
    assert h.balance("USDT").locked == 0


def test_touching_the_limit_is_not_enough_by_default() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    buy = h.submit(BUY, LIMIT, "1", price="99.5")
    sell = h.submit(SELL, LIMIT, "1", price="101.5")
    h.bar("100", "101.5", "99.5", "100")
    assert buy.status is OrderStatus.OPEN and sell.status is OrderStatus.OPEN
    h.bar("100", "101.51", "99.49", "100")
    assert buy.status is OrderStatus.FILLED and sell.status is OrderStatus.FILLED
    assert h.fills_of(sell)[0].price == D("101.5")


def test_touching_the_limit_fills_when_configured() -> None:
    h = Harness(PaperVenueConfig(limit_fill_on_touch=True))
    h.bar("100", "101", "99", "100.5")
    buy = h.submit(BUY, LIMIT, "1", price="99.5")
    sell = h.submit(SELL, LIMIT, "1", price="101.5")
    h.bar("100", "101.5", "99.5", "100")
    assert h.fills_of(buy)[0].price == D("99.5")
    assert h.fills_of(sell)[0].price == D("101.5")


def test_an_open_exactly_at_the_limit_is_a_touch_not_a_gap() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    buy = h.submit(BUY, LIMIT, "1", price="99.5")
    sell = h.submit(SELL, LIMIT, "1", price="101.5")
    h.bar("99.5", "99.8", "99.5", "99.6")
    h.bar("101.5", "101.5", "101", "101.2")
    assert buy.status is OrderStatus.OPEN and sell.status is OrderStatus.OPEN
    touching = Harness(PaperVenueConfig(limit_fill_on_touch=True))
    touching.bar("100", "101", "99", "100.5")
    buy = touching.submit(BUY, LIMIT, "1", price="99.5")
    touching.bar("99.5", "99.8", "99.5", "99.6")
    assert touching.fills_of(buy)[0].price == D("99.5")


def test_gap_through_a_resting_limit_fills_at_the_open() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    buy = h.submit(BUY, LIMIT, "1", price="99.5")
    sell = h.submit(SELL, LIMIT, "1", price="101")
    h.bar("99", "99.2", "98", "98.5")
    assert h.fills_of(buy)[0].price == D("99")
    assert h.fills_of(buy)[0].liquidity is Liquidity.MAKER
    assert sell.status is OrderStatus.OPEN
    h.bar("102", "103", "101.5", "102.5")
    assert h.fills_of(sell)[0].price == D("102")


def test_marketable_limit_fills_on_arrival_at_last_close_as_taker() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, LIMIT, "1", price="101")
    (fill,) = h.fills_of(order)
    assert (fill.price, fill.liquidity) == (D("100.5"), Liquidity.TAKER)


def test_ioc_limit_not_marketable_is_cancelled_without_fill() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, LIMIT, "1", price="100", tif=IOC)
    assert h.kinds(order) == ["OrderAccepted", "OrderCancelled"]
    assert h.balance("USDT").locked == 0


def test_limits_fill_in_time_priority_when_volume_is_short() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    first = h.submit(BUY, LIMIT, "1", price="99.5")
    second = h.submit(BUY, LIMIT, "1", price="99.5")
    h.bar("100", "100", "99", "99.2", volume="1.5")
    assert first.filled_quantity == D("1") and first.status is OrderStatus.FILLED
    assert second.filled_quantity == D("0.5") and second.status is OrderStatus.PARTIALLY_FILLED


# -- stops -----------------------------------------------------------------------------------------


def test_buy_stop_triggers_at_stop_price_and_fills_as_taker() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, STOP, "1", stop="101")
    assert order.status is OrderStatus.OPEN
    h.bar("100.6", "100.99", "100.4", "100.8")
    assert h.kinds(order) == ["OrderAccepted"]
    h.bar("100.6", "101.5", "100.4", "101.2")
    assert h.kinds(order) == ["OrderAccepted", "OrderTriggered", "OrderFilled"]
    assert order.triggered
    (fill,) = h.fills_of(order)
    assert (fill.price, fill.liquidity) == (D("101"), Liquidity.TAKER)


def test_stops_fill_at_the_open_when_the_bar_gaps_through() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    buy = h.submit(BUY, STOP, "1", stop="101")
    sell = h.submit(SELL, STOP, "1", stop="99")
    h.bar("102", "103", "101.8", "102.5")
    assert h.fills_of(buy)[0].price == D("102")
    h.bar("98.5", "99.5", "98", "99")
    assert h.fills_of(sell)[0].price == D("98.5")


def test_stop_already_reached_on_arrival_triggers_at_once_in_live_mode() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(SELL, STOP, "1", stop="101")
    assert h.kinds(order) == ["OrderAccepted", "OrderTriggered", "OrderFilled"]
    assert h.fills_of(order)[0].price == D("100.5")


def test_stop_limit_fills_in_trigger_bar_only_when_marketable_at_trigger_price() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    marketable = h.submit(BUY, STOP_LIMIT, "1", price="101.5", stop="101")
    not_marketable = h.submit(BUY, STOP_LIMIT, "1", price="100.8", stop="101")
    h.bar("100.6", "101.8", "100.4", "101.2")
    assert h.kinds(marketable) == ["OrderAccepted", "OrderTriggered", "OrderFilled"]
    assert h.fills_of(marketable)[0].price == D("101")
    assert h.fills_of(marketable)[0].liquidity is Liquidity.TAKER
    # The bar's low (100.4) was under the limit, but it may have come before the trigger.
    assert h.kinds(not_marketable) == ["OrderAccepted", "OrderTriggered"]
    assert not_marketable.status is OrderStatus.OPEN and not_marketable.triggered
    h.bar("101", "101.2", "100.5", "100.9")
    (fill,) = h.fills_of(not_marketable)
    assert (fill.price, fill.liquidity) == (D("100.8"), Liquidity.MAKER)


def test_stops_are_matched_before_limits_in_the_same_bar() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    limit = h.submit(BUY, LIMIT, "1", price="99.5")
    stop = h.submit(BUY, STOP, "1", stop="100.8")
    h.bar("100", "101", "99", "100.5", volume="1")
    assert stop.status is OrderStatus.FILLED
    assert limit.status is OrderStatus.OPEN and limit.filled_quantity == 0


def test_stop_ioc_cancels_what_the_trigger_bar_cannot_fill() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, STOP, "1", stop="101", tif=IOC)
    assert order.status is OrderStatus.OPEN
    h.bar("100.6", "101.5", "100.4", "101.2", volume="0.25")
    assert h.kinds(order) == ["OrderAccepted", "OrderTriggered", "OrderFilled", "OrderCancelled"]
    assert order.filled_quantity == D("0.25")


def test_triggered_stop_remainder_fills_at_next_open() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, STOP, "1", stop="101")
    h.bar("100.6", "101.5", "100.4", "101.2", volume="0.25")
    assert order.status is OrderStatus.PARTIALLY_FILLED
    h.bar("101.4", "101.6", "100.9", "101")
    assert [fill.price for fill in h.fills_of(order)] == [D("101"), D("101.4")]
    assert order.status is OrderStatus.FILLED


# -- volume and partial fills ----------------------------------------------------------------------


def test_partial_fills_across_bars_under_volume_share() -> None:
    h = Harness(PaperVenueConfig(max_volume_share=D("0.5")))
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, LIMIT, "1.2", price="99.5")
    h.bar("100", "100", "99", "99.2", volume="1")
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled_quantity == D("0.5")
    assert h.balance("USDT").locked == D("0.7") * D("99.5") * D("1.002")
    h.bar("100", "100", "99", "99.2", volume="1")
    assert order.filled_quantity == D("1.0")
    h.bar("100", "100", "99", "99.2", volume="1")
    assert order.status is OrderStatus.FILLED
    assert [fill.quantity for fill in h.fills_of(order)] == [D("0.5"), D("0.5"), D("0.2")]
    assert h.balance("USDT").locked == 0


def test_fill_quantities_are_floored_to_the_lot_size() -> None:
    h = Harness(PaperVenueConfig(max_volume_share=D(1) / D(3)))
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, LIMIT, "1", price="99.5")
    for _ in range(4):
        h.bar("100", "100", "99", "99.2", volume="1")
    assert [fill.quantity for fill in h.fills_of(order)] == [D("0.333")] * 3 + [D("0.001")]
    assert order.status is OrderStatus.FILLED


def test_volume_is_shared_by_immediate_fills_against_the_last_bar() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5", volume="1.5")
    first = h.submit(BUY, MARKET, "1")
    second = h.submit(BUY, MARKET, "1")
    assert first.status is OrderStatus.FILLED
    assert second.filled_quantity == D("0.5") and second.status is OrderStatus.PARTIALLY_FILLED
    h.bar("101", "102", "100", "101.5")
    assert second.status is OrderStatus.FILLED
    assert h.fills_of(second)[-1].price == D("101")


def test_ioc_market_fills_what_is_available_then_cancels_the_rest() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5", volume="0.4")
    order = h.submit(BUY, MARKET, "1", tif=IOC)
    assert h.kinds(order) == ["OrderAccepted", "OrderFilled", "OrderCancelled"]
    assert order.filled_quantity == D("0.4")
    assert h.balance("USDT").locked == 0


def test_fok_fills_completely_or_not_at_all() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5", volume="0.4")
    killed = h.submit(BUY, MARKET, "1", tif=FOK)
    assert h.kinds(killed) == ["OrderAccepted", "OrderCancelled"]
    assert "FOK" in reason_of(h, killed.id)
    assert h.balance("USDT").total == D("10000") and h.balance("USDT").locked == 0
    filled = h.submit(SELL, LIMIT, "0.4", price="100", tif=FOK)
    assert filled.status is OrderStatus.FILLED and filled.filled_quantity == D("0.4")


def test_zero_volume_bar_fills_nothing() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, LIMIT, "1", price="99.5")
    h.bar("99", "99", "98", "98", volume="0")
    assert order.status is OrderStatus.OPEN


# -- GTD -------------------------------------------------------------------------------------------


def test_gtd_expires_on_time_without_bars_and_releases_its_lock() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, LIMIT, "1", price="99", tif=GTD, expire_at=h.clock.now + 90_000)
    h.bar("100", "101", "99.5", "100.5")
    assert order.status is OrderStatus.OPEN
    h.venue.on_time(h.clock.now + 29_999)
    assert order.status is OrderStatus.OPEN
    h.venue.on_time(h.clock.now + 30_000)
    assert order.status is OrderStatus.EXPIRED
    assert h.balance("USDT").locked == 0


def test_gtd_expires_on_a_bar_before_matching() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, LIMIT, "1", price="99.5", tif=GTD, expire_at=h.clock.now + MINUTE)
    h.bar("100", "101", "98", "98.5")
    assert h.kinds(order) == ["OrderAccepted", "OrderExpired"]
    assert h.fills == []


def test_gtd_in_the_past_or_without_expiry_is_rejected() -> None:
    h = Harness()
    past = h.submit(BUY, LIMIT, "1", price="99", tif=GTD, expire_at=h.clock.now)
    missing = h.submit(BUY, LIMIT, "1", price="99", tif=GTD)
    assert past.status is OrderStatus.REJECTED and missing.status is OrderStatus.REJECTED
    assert missing.reject_reason == "a GTD order needs expire_at"


# -- validation ------------------------------------------------------------------------------------


def test_invalid_orders_are_rejected_with_a_reason() -> None:
    h = Harness()
    cases = {
        h.submit(BUY, LIMIT, "1", symbol="ETH/USDT", price="10"): "unknown instrument",
        h.submit(BUY, LIMIT, "0.0005", price="99"): "lot size",
        h.submit(BUY, LIMIT, "1"): "needs a price",
        h.submit(BUY, STOP, "1"): "needs a stop_price",
        h.submit(BUY, LIMIT, "1", price="99.001"): "tick size",
    }
    for order, text in cases.items():
        assert order.status is OrderStatus.REJECTED
        assert order.reject_reason is not None and text in order.reject_reason


def test_venue_order_ids_are_sequential_and_timestamps_come_from_the_clock() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    first = h.submit(BUY, LIMIT, "1", price="90")
    h.clock.now += 5
    second = h.submit(BUY, LIMIT, "1", price="90")
    assert (first.venue_order_id, second.venue_order_id) == ("P1", "P2")
    assert [event.ts for event in h.events] == [h.clock.now - 5, h.clock.now]


def test_unknown_symbol_bars_are_ignored() -> None:
    h = Harness()
    h.bar("1", "2", "0.5", "1.5", symbol="ETH/USDT")
    assert h.venue.last_price("ETH/USDT") is None and h.events == []


def test_prices_are_decimal_end_to_end() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(BUY, MARKET, "0.003")
    fill = h.fills_of(order)[0]
    assert isinstance(fill.price, Decimal) and isinstance(fill.fee, Decimal)
    assert fill.fee == D("0.003") * D("100.5") * D("0.002")


def test_gtd_expiry_is_checked_on_a_bar_of_any_symbol() -> None:
    h = Harness()
    h.bar("100", "101", "99", "100.5")
    order = h.submit(SELL, LIMIT, "1", price="110", tif=GTD, expire_at=h.clock.now + 30_000)
    h.bar("1", "2", "0.5", "1.5", symbol="ETH/USDT")
    assert order.status is OrderStatus.EXPIRED
    assert h.balance("BTC").locked == 0
