"""What the built-ins share (builtin/common.py), on the SYNC system and real minutes: the OMS is ahead
of the events a strategy has heard, OwnOrders says what is still on its way, and a bar waits for the
strategy's reactions still on their way so it decides on the holding the OMS already has."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradeforge.adapters.clocks import SimulatedClock
from tradeforge.bus import topics
from tradeforge.domain.events import OrderEvent, OrderSubmitted
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderStatus
from tradeforge.domain.values import round_to_step
from tradeforge.strategies.base import BarView
from tradeforge.strategies.builtin.common import Change, TrackingStrategy

from .support import T0, bar_index, host, make_system, sample_bars

SYMBOL = "BTC/USDT"
QUANTITY = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class FlipConfig:
    pass


@dataclass(frozen=True, slots=True)
class Seen:
    """What the strategy knew at one moment, and what the OMS had then."""

    held: Decimal
    settled: bool
    buying: Decimal  # OwnOrders.outstanding
    selling: Decimal
    position: Decimal  # the account's position: every fill of its orders, heard or not


class Flip(TrackingStrategy[FlipConfig]):
    """Flat: a buy limit 0.05 % under the close. On hearing it filled: a sell limit 0.1 % under the
    last price, which fills at once, its events behind the bar that filled the buy."""

    name = "flip"
    config_class = FlipConfig

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.arrived: list[tuple[int, Seen]] = []  # on_bar: as the bar reached the strategy
        self.decided: list[tuple[int, Seen]] = []  # on_settled_bar
        self.sold_at_once: list[tuple[Seen, Seen]] = []  # in react: before and after the sell

    def seen(self) -> Seen:
        own = self.own
        return Seen(
            self.held(SYMBOL),
            own.settled(SYMBOL),
            own.outstanding(SYMBOL, OrderSide.BUY),
            own.outstanding(SYMBOL, OrderSide.SELL),
            self.ctx.position(SYMBOL).quantity,
        )

    def on_bar(self, bar: BarView) -> None:
        self.arrived.append((bar.ts, self.seen()))
        super().on_bar(bar)

    def on_settled_bar(self, bar: BarView) -> None:
        self.decided.append((bar.ts, self.seen()))
        if self.held(SYMBOL) == 0 and not self.own.working(SYMBOL):
            price = round_to_step(Decimal(repr(bar.close * 0.9995)), Decimal("0.01"))
            self.own.track(self.ctx.limit(SYMBOL, OrderSide.BUY, QUANTITY, price))

    def react(self, changes: list[Change]) -> None:
        for change in changes:
            if change.side is OrderSide.BUY and change.done and change.total > 0:
                last = self.ctx.last_price(SYMBOL)
                assert last is not None
                before = self.seen()
                price = round_to_step(last * Decimal("0.999"), Decimal("0.01"))
                self.own.track(self.ctx.limit(SYMBOL, OrderSide.SELL, change.total, price))
                self.sold_at_once.append((before, self.seen()))


def test_a_bar_waits_for_the_reactions_still_on_their_way() -> None:
    clock = SimulatedClock(T0)
    system = make_system(clock)
    bars = sample_bars(system, 1_500)
    run = host(system, clock, Flip())
    strategy = run.strategy
    assert isinstance(strategy, Flip)
    handled: list[int] = []
    run.feed(bars, lambda _t, item: handled.append(len(strategy.decided)))

    # Every bar is decided within its own process_bar, in order, on the holding the OMS has.
    assert handled == list(range(1, len(bars) + 1))
    assert [ts for ts, _ in strategy.decided] == [item.ts for item in bars]
    assert all(seen.settled and seen.held == seen.position for _, seen in strategy.decided)
    assert all(seen.selling == 0 for _, seen in strategy.decided)
    # Each answer sold at once: the OMS had the sale before the strategy heard it, and OwnOrders
    # counted it as still on its way (held unchanged, the sale outstanding, not settled).
    assert len(strategy.sold_at_once) >= 5
    for before, after in strategy.sold_at_once:
        assert before.settled and after.position == before.position - QUANTITY
        assert after.held == before.held == QUANTITY and after.selling == QUANTITY
        assert not after.settled
    # ... and the bar that filled the buy reached the strategy before that sale was heard: it waited.
    at = bar_index(bars)
    buys = {at[f.ts] for f in run.fills if f.side is OrderSide.BUY}
    opened = {item.ts: t for t, item in enumerate(bars)}
    waited = {opened[ts]: seen for ts, seen in strategy.arrived if not seen.settled}
    assert set(waited) == buys and len(waited) == len(strategy.sold_at_once)
    assert all(
        seen.held == QUANTITY and seen.position == 0 and seen.selling == QUANTITY and seen.buying == 0
        for seen in waited.values()
    )


class Idle(TrackingStrategy[FlipConfig]):
    """Places nothing itself; keeps what it is handed to react to."""

    name = "idle"
    config_class = FlipConfig

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.changes: list[Change] = []

    def react(self, changes: list[Change]) -> None:
        self.changes.extend(changes)


def test_an_order_heard_to_end_before_it_was_announced_is_counted_once_and_not_followed_again() -> None:
    """A delivery that does not keep commit order (none does now; the books must not depend on it):
    the real events of two orders of a hosted strategy, each end heard before its OrderSubmitted by
    a second strategy following the same orders."""
    clock = SimulatedClock(T0)
    system = make_system(clock)
    bars = sample_bars(system, 1)
    run = host(system, clock, Idle())
    run.feed(bars)
    events: list[OrderEvent] = []
    system.bus.subscribe(topics.ALL_ORDER_EVENTS, events.append)
    ctx = run.strategy.ctx
    close = bars[0].close
    resting = ctx.limit(SYMBOL, OrderSide.BUY, QUANTITY, (close * Decimal("0.9")).quantize(Decimal("0.01")))
    ctx.cancel(resting.id)
    filled = ctx.limit(SYMBOL, OrderSide.BUY, QUANTITY, (close * Decimal("1.01")).quantize(Decimal("0.01")))
    view = ctx.order(filled.id)
    assert view is not None and view.status is OrderStatus.FILLED  # at once, on the last close

    other = Idle()
    other.bind(ctx)
    other.own.track(resting, {"role": "resting"})
    other.own.track(filled, {"role": "filled"})
    for order_id in (resting.id, filled.id):
        mine = [event for event in events if event.order_id == order_id]
        assert isinstance(mine[0], OrderSubmitted) and len(mine) >= 3
        for event in [mine[-1], *mine[:-1]]:  # the end first
            other.on_order_event(event)
            assert order_id not in other.own.tracked()
            assert order_id not in {item.order.id for item in other.own.working(SYMBOL)}
    assert [(c.tag["role"], c.status, c.total) for c in other.changes] == [
        ("resting", OrderStatus.CANCELLED, 0),
        ("filled", OrderStatus.FILLED, QUANTITY),
    ]
    hosted = run.strategy
    assert isinstance(hosted, Idle) and other.held(SYMBOL) == QUANTITY == hosted.held(SYMBOL)
    assert other.state["own"]["orders"] == {} and other.own.settled(SYMBOL)
