"""Paper venue building blocks: slippage models, against-the-trader rounding and the account ledger."""

from __future__ import annotations

import pytest
from tests.unit.adapters.paper.paper_harness import BUY, SELL, D

from tradeforge.adapters.paper import AccountBook, FixedBps, NoSlippage, VolumeShareSlippage
from tradeforge.adapters.paper.matching import floor_to_lot, resting_fill_price, stop_trigger_price
from tradeforge.adapters.paper.slippage import round_against
from tradeforge.domain.data import Bar
from tradeforge.domain.errors import InsufficientBalance


def test_no_slippage_keeps_the_price() -> None:
    assert NoSlippage().adjust(BUY, D("100.5"), D("3"), D("1")) == D("100.5")


def test_fixed_bps_moves_the_price_against_the_trader() -> None:
    model = FixedBps(D("25"))
    assert model.adjust(BUY, D("200"), D("1"), D("10")) == D("200.5")
    assert model.adjust(SELL, D("200"), D("1"), D("10")) == D("199.5")
    with pytest.raises(ValueError):
        FixedBps(D("-1"))


def test_volume_share_slippage_formula() -> None:
    model = VolumeShareSlippage(D("0.1"))
    # impact = 0.1 * (quantity / volume) ** 2
    assert model.adjust(BUY, D("100"), D("2"), D("10")) == D("100") * (1 + D("0.1") * D("0.04"))
    assert model.adjust(SELL, D("100"), D("5"), D("10")) == D("100") * (1 - D("0.1") * D("0.25"))
    # The share is capped at the whole bar, and a bar without volume counts as a full share.
    assert model.adjust(BUY, D("100"), D("50"), D("10")) == D("110.0")
    assert model.adjust(BUY, D("100"), D("1"), D("0")) == D("110.0")
    assert model.adjust(BUY, D("100"), D("1"), D("1000")) < model.adjust(BUY, D("100"), D("100"), D("1000"))
    with pytest.raises(ValueError):
        VolumeShareSlippage(D("1"))


@pytest.mark.parametrize(
    ("price", "tick", "buy", "sell"),
    [
        (D("100.001"), D("0.01"), D("100.01"), D("100.00")),
        (D("100.25"), D("0.5"), D("100.5"), D("100.0")),
        (D("100"), D("0.5"), D("100"), D("100")),
        (D("7.3"), D("5"), D("10"), D("5")),
        (D("1") / D("3"), D("0.25"), D("0.50"), D("0.25")),
    ],
)
def test_round_against_rounds_buys_up_and_sells_down(price: D, tick: D, buy: D, sell: D) -> None:
    assert round_against(BUY, price, tick) == buy
    assert round_against(SELL, price, tick) == sell


def test_round_against_never_gives_a_sell_a_zero_price() -> None:
    assert round_against(SELL, D("0.004"), D("0.01")) == D("0.01")


def test_floor_to_lot() -> None:
    assert floor_to_lot(D("0.3333333"), D("0.001")) == D("0.333")
    assert floor_to_lot(D("0.0009"), D("0.001")) == 0
    assert floor_to_lot(D("-1"), D("0.001")) == 0
    assert floor_to_lot(D("12"), D("5")) == D("10")


def test_price_rules_for_a_bar() -> None:
    bar = Bar("BTC/USDT", "1m", 0, D("100"), D("103"), D("98"), D("101"), D("5"))
    assert stop_trigger_price(BUY, D("102"), bar) == D("102")
    assert stop_trigger_price(BUY, D("99"), bar) == D("100")  # already through at the open
    assert stop_trigger_price(BUY, D("103.5"), bar) is None
    assert stop_trigger_price(SELL, D("98"), bar) == D("98")  # touching triggers a stop
    assert resting_fill_price(BUY, D("98"), bar, on_touch=False) is None
    assert resting_fill_price(BUY, D("98"), bar, on_touch=True) == D("98")
    assert resting_fill_price(BUY, D("100.5"), bar, on_touch=False) == D("100")
    assert resting_fill_price(SELL, D("102"), bar, on_touch=False) == D("102")


def test_account_book_locks_never_exceed_what_is_free() -> None:
    book = AccountBook({"a": {"USDT": D("100")}})
    book.lock("a", "USDT", D("60"), 1)
    assert book.free("a", "USDT") == D("40")
    with pytest.raises(InsufficientBalance):
        book.lock("a", "USDT", D("41"), 2)
    with pytest.raises(InsufficientBalance):
        book.unlock("a", "USDT", D("61"), 2)
    book.unlock("a", "USDT", D("60"), 3)
    (balance,) = book.snapshot("a")
    assert (balance.total, balance.locked, balance.updated_at) == (D("100"), D("0"), 3)


def test_account_book_flows_cannot_dip_into_locked_funds_or_go_negative() -> None:
    book = AccountBook({"a": {"USDT": D("100"), "BTC": D("1")}})
    book.lock("a", "USDT", D("80"), 1)
    with pytest.raises(InsufficientBalance):
        book.apply("a", {"USDT": D("-30"), "BTC": D("0.3")}, 2)
    assert [(b.asset, b.total) for b in book.snapshot("a")] == [("BTC", D("1")), ("USDT", D("100"))]
    book.apply("a", {"USDT": D("-20"), "BTC": D("0.2"), "ETH": D("0")}, 2)
    assert [(b.asset, b.total) for b in book.snapshot("a")] == [
        ("BTC", D("1.2")),
        ("ETH", D("0")),
        ("USDT", D("80")),
    ]
    with pytest.raises(InsufficientBalance):
        AccountBook({"a": {"USDT": D("-1")}})


def test_account_book_snapshots_are_copies() -> None:
    book = AccountBook({"a": {"USDT": D("100")}})
    book.snapshot("a")[0].total = D("1")
    assert book.free("a", "USDT") == D("100")
    assert book.snapshot("nobody") == []
