"""The router's arithmetic on fixed books: size, fees, limits, partial depth, health and capability."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal

from tradeforge.domain.commands import SubmitOrder
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import OrderType, TimeInForce
from tradeforge.engine.instruments import InstrumentRegistry
from tradeforge.engine.router import OrderRouter, RouteDecision, walk

D = Decimal
SYMBOL = "BTC/USDT"


@dataclass(frozen=True)
class Book:
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    fetched_ms: int = 0


def levels(*pairs: tuple[str, str]) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((D(price), D(size)) for price, size in pairs)


@dataclass
class FakeVenue:
    """A RoutableVenue with a fixed book and health (a fake of the port, not of our internals)."""

    name: str
    book: Book | None
    down: str | None = None
    refuses: frozenset[OrderType] = frozenset()
    watched: list[str] = field(default_factory=list)

    def unavailable(self) -> str | None:
        return self.down

    def refusal(self, command: SubmitOrder) -> str | None:
        return f"does not support {command.type.value} orders" if command.type in self.refuses else None

    def order_book(self, symbol: str) -> Book | None:
        return self.book

    def watch(self, symbol: str) -> None:
        self.watched.append(symbol)


def registry(fees: dict[str, str], lot: str = "0.001") -> InstrumentRegistry:
    return InstrumentRegistry(
        Instrument.spot(SYMBOL, venue, tick_size="0.1", lot_size=lot, maker_fee="0.0005", taker_fee=fee)
        for venue, fee in fees.items()
    )


def command(
    side: OrderSide, quantity: str, kind: OrderType = OrderType.MARKET, price: str | None = None
) -> SubmitOrder:
    return SubmitOrder(
        "main", "c1", SYMBOL, side, kind, D(quantity), None if price is None else D(price), venue="auto"
    )


# A venue with the best top of book but little behind it, and a deeper one just above.
THIN = Book(bids=levels(("99.9", "1")), asks=levels(("100.0", "1"), ("103.0", "10")))
DEEP = Book(bids=levels(("99.8", "10")), asks=levels(("100.5", "10")))


def test_walking_the_book_takes_levels_in_order_up_to_the_quantity_and_the_limit() -> None:
    asks = levels(("100", "1"), ("101", "2"), ("102", "5"))
    assert walk(asks, D("2.5"), None, buying=True) == (D("2.5"), D("100") + D("1.5") * 101)
    assert walk(asks, D("10"), None, buying=True) == (D("8"), D("100") + D("202") + D("510"))
    assert walk(asks, D("10"), D("101"), buying=True) == (D("3"), D("302"))
    bids = levels(("99", "1"), ("98", "1"))
    assert walk(bids, D("2"), D("98.5"), buying=False) == (D("1"), D("99"))


def test_the_size_decides_a_small_order_takes_the_thin_top_a_large_one_the_deep_book() -> None:
    router = OrderRouter(
        registry({"thin": "0.001", "deep": "0.001"}), [FakeVenue("thin", THIN), FakeVenue("deep", DEEP)]
    )
    small = router.route(command(OrderSide.BUY, "0.5"))
    large = router.route(command(OrderSide.BUY, "5"))
    assert (small.venue, large.venue) == ("thin", "deep")
    by_venue = {c.venue: c for c in large.candidates}
    # thin: 1 @ 100 + 4 @ 103 = 102.4 average; deep: 100.5
    assert by_venue["thin"].average_price == D("102.4") and by_venue["deep"].average_price == D("100.5")
    assert by_venue["deep"].expected_price == D("100.5") * D("1.001")


def test_fees_can_outweigh_a_better_price_on_both_sides() -> None:
    cheap_but_costly = FakeVenue("a", Book(bids=levels(("100.1", "9")), asks=levels(("99.9", "9"))))
    plain = FakeVenue("b", Book(bids=levels(("100.0", "9")), asks=levels(("100.0", "9"))))
    router = OrderRouter(registry({"a": "0.0026", "b": "0.001"}), [cheap_but_costly, plain])
    assert router.route(command(OrderSide.BUY, "1")).venue == "b"  # 99.9 x 1.0026 > 100 x 1.001
    assert router.route(command(OrderSide.SELL, "1")).venue == "b"  # 100.1 x 0.9974 < 100 x 0.999
    cheaper_fee = OrderRouter(registry({"a": "0.0001", "b": "0.001"}), [cheap_but_costly, plain])
    assert cheaper_fee.route(command(OrderSide.BUY, "1")).venue == "a"


def test_a_limit_order_rests_its_remainder_at_its_price_with_the_maker_fee() -> None:
    router = OrderRouter(
        registry({"thin": "0.001", "deep": "0.001"}), [FakeVenue("thin", THIN), FakeVenue("deep", DEEP)]
    )
    decision = router.route(command(OrderSide.BUY, "3", OrderType.LIMIT, "100.2"))
    thin = {c.venue: c for c in decision.candidates}["thin"]
    # 1 taken at 100.0 (taker), 2 resting at 100.2 (maker): nothing crosses on the deep book
    assert thin.fillable == D("1")
    assert thin.expected_price == (D("100.0") * D("1.001") + 2 * D("100.2") * D("1.0005")) / 3
    assert decision.venue == "thin"


def test_partial_depth_ranks_after_full_coverage_and_the_deepest_partial_wins_alone() -> None:
    shallow = FakeVenue("shallow", Book(bids=(), asks=levels(("90", "1"))))
    deep = FakeVenue("deep", DEEP)
    both = OrderRouter(registry({"shallow": "0.001", "deep": "0.001"}), [shallow, deep])
    assert both.route(command(OrderSide.BUY, "5")).venue == "deep"
    partial_only = OrderRouter(
        registry({"shallow": "0.001", "half": "0.001"}),
        [shallow, FakeVenue("half", Book(bids=(), asks=levels(("95", "2"))))],
    )
    decision = partial_only.route(command(OrderSide.BUY, "5"))
    assert decision.venue == "half" and "covers the most" in decision.reason


def test_down_venues_are_skipped_and_without_any_healthy_venue_the_order_is_rejected() -> None:
    thin, deep = FakeVenue("thin", THIN, down="circuit open"), FakeVenue("deep", DEEP)
    router = OrderRouter(registry({"thin": "0.001", "deep": "0.001"}), [thin, deep])
    assert router.route(command(OrderSide.BUY, "0.5")).venue == "deep"
    deep.down = "circuit half-open"
    decision = router.route(command(OrderSide.BUY, "0.5"))
    assert (
        decision.rejection == "no venue can take the order now (thin: circuit open; deep: circuit half-open)"
    )
    assert decision.venue == "thin"  # the order is stored, rejected, on the first venue that would take it


def test_venues_without_a_fresh_book_follow_configured_order_and_unsupported_ones_are_skipped() -> None:
    first, second = FakeVenue("first", None), FakeVenue("second", None)
    router = OrderRouter(registry({"first": "0.001", "second": "0.001"}), [first, second])
    decision = router.route(command(OrderSide.BUY, "1"))
    assert decision.venue == "first" and "no fresh order book" in decision.reason
    assert first.watched == [SYMBOL] == second.watched  # their books are kept warm from now on
    first.refuses = frozenset({OrderType.STOP})
    stop = SubmitOrder(
        "main", "c2", SYMBOL, OrderSide.SELL, OrderType.STOP, D("1"), None, D("90"), venue="auto"
    )
    assert router.route(stop).venue == "second"


def test_lot_grid_and_unknown_symbols_rule_venues_out_and_a_single_venue_routes_trivially() -> None:
    fine = registry({"fine": "0.001"}, lot="0.001")
    coarse = Instrument.spot(SYMBOL, "coarse", tick_size="0.1", lot_size="0.1")
    fine.add(coarse)
    router = OrderRouter(fine, [FakeVenue("coarse", DEEP), FakeVenue("fine", DEEP)])
    decision = router.route(command(OrderSide.BUY, "0.005"))
    assert decision.venue == "fine"
    assert {c.venue: c.status for c in decision.candidates}["coarse"] == "unsupported"
    unknown = router.route(
        SubmitOrder("main", "c3", "ETH/USDT", OrderSide.BUY, OrderType.MARKET, D("1"), venue="auto")
    )
    assert unknown.rejection is not None and "no instrument ETH/USDT" in unknown.rejection
    paper_only = OrderRouter(fine).route(command(OrderSide.BUY, "1"))
    assert (paper_only.venue, paper_only.recorded, paper_only.rejection) == ("paper", False, None)


def test_the_routed_command_keeps_every_field_but_the_venue() -> None:
    original = SubmitOrder(
        "acc", "c9", SYMBOL, OrderSide.SELL, OrderType.STOP_LIMIT, D("2"), D("99"), D("100"),
        TimeInForce.GTD, 1_900_000_000_000, "auto", "strat",
    )  # fmt: skip
    routed = RouteDecision("deep", "test").apply(original)
    for item in dataclasses.fields(SubmitOrder):
        expected = "deep" if item.name == "venue" else getattr(original, item.name)
        assert getattr(routed, item.name) == expected, item.name
