"""Property tests of the paper venue: random orders, cancels, amends and bars keep every invariant."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit.adapters.paper.paper_harness import D, Harness

from tradeforge.adapters.paper import FixedBps, NoSlippage, PaperVenue, PaperVenueConfig, VolumeShareSlippage
from tradeforge.domain.data import Bar
from tradeforge.domain.events import OrderAmended, OrderEvent, OrderFilled
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order, OrderStatus, OrderType, TimeInForce
from tradeforge.domain.values import is_multiple
from tradeforge.ports.venue import VenueRequestRefused

INSTRUMENTS = [
    Instrument.spot(
        "BTC/USDT", "paper", tick_size="0.5", lot_size="0.01", maker_fee="0.001", taker_fee="0.002"
    ),
    Instrument.spot("ETH/BTC", "paper", tick_size="0.001", lot_size="0.1", maker_fee="0", taker_fee="0.0025"),
]
BY_SYMBOL = {instrument.symbol: instrument for instrument in INSTRUMENTS}
# Price ranges in ticks: BTC/USDT 75..125, ETH/BTC 0.040..0.060.
TICKS = {"BTC/USDT": (150, 250), "ETH/BTC": (40, 60)}
LOTS = {"BTC/USDT": 300, "ETH/BTC": 100}
STARTING = {
    "a1": {"USDT": D("5000"), "BTC": D("20"), "ETH": D("100")},
    "a2": {"USDT": D("150"), "BTC": D("0.3"), "ETH": D("2")},  # poor: balance caps and rejections happen
}
ACCOUNTS = sorted(STARTING)

symbols = st.sampled_from(sorted(BY_SYMBOL))


@st.composite
def submit_action(draw: st.DrawFn) -> tuple[Any, ...]:
    symbol = draw(symbols)
    low, high = TICKS[symbol]
    kind = draw(st.sampled_from(list(OrderType)))
    return (
        "submit",
        symbol,
        draw(st.sampled_from(list(OrderSide))),
        kind,
        draw(st.integers(1, LOTS[symbol])),
        draw(st.integers(low - 20, high + 20)),
        draw(st.integers(low - 20, high + 20)),
        draw(st.sampled_from(list(TimeInForce))),
        draw(st.integers(1, 400_000)),
        draw(st.sampled_from(["a1", "a1", "a1", "a2"])),
    )


@st.composite
def bar_action(draw: st.DrawFn) -> tuple[Any, ...]:
    symbol = draw(symbols)
    low, high = TICKS[symbol]
    open_, close = draw(st.integers(low, high)), draw(st.integers(low, high))
    top = max(open_, close) + draw(st.integers(0, 15))
    bottom = max(1, min(open_, close) - draw(st.integers(0, 15)))
    volume = draw(st.sampled_from(["0", "0.05", "0.5", "1", "3", "25", "1000"]))
    return ("bar", symbol, open_, top, bottom, close, volume, draw(st.integers(1, 120_000)))


actions = st.one_of(
    submit_action(),
    submit_action(),
    submit_action(),
    bar_action(),
    bar_action(),
    bar_action(),
    st.tuples(st.just("cancel"), st.integers(0, 60)),
    st.tuples(st.just("amend"), st.integers(0, 60), st.integers(1, 300), st.integers(-30, 30), st.booleans()),
    st.tuples(st.just("time"), st.integers(1, 200_000)),
    st.tuples(st.just("restart")),
)
# Most sessions start with market data for both symbols, so orders meet prices early.
openings = st.lists(bar_action(), max_size=2)

configs = st.builds(
    PaperVenueConfig,
    fill_market_on_submit=st.booleans(),
    limit_fill_on_touch=st.booleans(),
    max_volume_share=st.sampled_from([D("1"), D("0.5"), D("0.1")]),
    market_reservation_buffer=st.sampled_from([D("0"), D("0.05")]),
    slippage=st.sampled_from([NoSlippage(), FixedBps(D("7")), VolumeShareSlippage(D("0.2"))]),
)


class Checked(Harness):
    """The harness plus the invariants every single event must keep."""

    def on_event(self, event: OrderEvent) -> None:
        order = self.orders[event.order_id]
        if isinstance(event, OrderFilled) and order.limit_price is not None:
            # A fill never trades through the limit the order had when it filled.
            limit = order.limit_price
            assert event.fill.price <= limit if order.side is OrderSide.BUY else event.fill.price >= limit
        super().on_event(event)  # Order.apply raises on any transition the table forbids
        assert order.filled_quantity <= order.quantity
        self.check_balances()

    def make_bar(
        self, symbol: str, open_: Decimal, high: Decimal, low: Decimal, close: Decimal, volume: Decimal
    ) -> Bar:
        return Bar(symbol, "1m", self.clock.now, open_, high, low, close, volume)

    def restart(self) -> None:
        """A new venue rebuilt from what the OMS holds: its working orders and the venue's totals."""
        balances = [balance for account in ACCOUNTS for balance in self.venue.balances(account)]
        self.venue = PaperVenue(self.instruments, self.clock, self.venue.config)
        self.venue.bind(self.on_event)
        self.venue.restore([order for order in self.orders.values() if order.is_working], balances)
        after = [balance for account in ACCOUNTS for balance in self.venue.balances(account)]
        assert [(b.account_id, b.asset, b.total) for b in after] == [
            (b.account_id, b.asset, b.total) for b in balances
        ]

    def check_balances(self) -> None:
        for account in ACCOUNTS:
            for balance in self.venue.balances(account):
                assert balance.total >= 0, balance
                assert 0 <= balance.locked <= balance.total, balance


def run(h: Checked, action: tuple[Any, ...]) -> None:
    name = action[0]
    if name == "submit":
        _, symbol, side, kind, lots, price_ticks, stop_ticks, tif, gtd_ms, account = action
        tick, lot = BY_SYMBOL[symbol].tick_size, BY_SYMBOL[symbol].lot_size
        h.submit(
            side,
            kind,
            lots * lot,
            price=price_ticks * tick if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
            stop=stop_ticks * tick if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None,
            tif=tif,
            expire_at=h.clock.now + gtd_ms if tif is TimeInForce.GTD else None,
            symbol=symbol,
            account=account,
        )
    elif name == "bar":
        _, symbol, open_, top, bottom, close, volume, advance = action
        tick = BY_SYMBOL[symbol].tick_size
        h.clock.now += advance
        h.venue.on_bar(h.make_bar(symbol, open_ * tick, top * tick, bottom * tick, close * tick, D(volume)))
    elif name == "time":
        h.clock.now += action[1]
        h.venue.on_time(h.clock.now)
    elif name == "cancel":
        order = pick(h, action[1])
        if order is None:
            return
        if order.is_working:
            h.venue.cancel(order)  # the venue and the OMS agree on what is working
            assert not order.is_working
        else:
            try:
                h.venue.cancel(order)
            except VenueRequestRefused:
                return
            raise AssertionError(f"cancel of {order.status} order {order.id} was not refused")
    elif name == "amend":
        amend(h, action)
    elif name == "restart":
        h.restart()


def pick(h: Checked, index: int) -> Order | None:
    orders = list(h.orders.values())
    return orders[index % len(orders)] if orders else None


def amend(h: Checked, action: tuple[Any, ...]) -> None:
    _, index, lots, price_shift, change_price = action
    order = pick(h, index)
    if order is None or not order.is_working:
        return
    instrument = BY_SYMBOL[order.symbol]
    quantity = lots * instrument.lot_size
    price = None
    if change_price and order.price is not None:
        price = max(instrument.tick_size, order.price + price_shift * instrument.tick_size)
    before = (len(h.events), [h.venue.balances(account) for account in ACCOUNTS])
    try:
        h.venue.amend(order, quantity, price)
    except VenueRequestRefused:
        assert (len(h.events), [h.venue.balances(account) for account in ACCOUNTS]) == before
        return
    amended = h.events[before[0]]
    assert isinstance(amended, OrderAmended) and amended.order_id == order.id
    assert amended.quantity == quantity


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs, opening=openings, steps=st.lists(actions, min_size=20, max_size=80))
def test_random_sessions_keep_every_invariant(
    config: PaperVenueConfig, opening: list[tuple[Any, ...]], steps: list[tuple[Any, ...]]
) -> None:
    h = Checked(config, STARTING, INSTRUMENTS)
    for step in [*opening, *steps]:
        run(h, step)
        h.check_balances()
        # The venue answers every submit at once: accepted or rejected, never left pending.
        assert all(order.status is not OrderStatus.PENDING for order in h.orders.values())

    for fill in h.fills:
        instrument = BY_SYMBOL[fill.symbol]
        assert fill.quantity > 0 and is_multiple(fill.quantity, instrument.lot_size)
        assert fill.price > 0 and is_multiple(fill.price, instrument.tick_size)
        assert fill.fee == fill.quantity * fill.price * instrument.fee_rate(fill.liquidity.value)
        assert fill.fee_asset == instrument.quote

    for account in ACCOUNTS:
        totals = {balance.asset: balance.total for balance in h.venue.balances(account)}
        expected = h.expected_totals(account)
        assert {a: t for a, t in totals.items() if t} == {a: t for a, t in expected.items() if t}

    # Cancelling everything still working releases every lock, exactly.
    for order in list(h.orders.values()):
        if order.is_working:
            h.venue.cancel(order)
    assert all(not order.is_working for order in h.orders.values())
    for account in ACCOUNTS:
        assert all(balance.locked == 0 for balance in h.venue.balances(account))
