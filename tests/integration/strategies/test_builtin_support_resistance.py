"""The built-in support_resistance on real BTC/USDT minutes: its levels are the swing points found
independently with the vectorized Donchian channel (each known only `swing` bars later), its orders
are the ones the rule asks for after every bar, its exits are honored, its books follow the events
it hears while the OMS is ahead of them, and it never looks ahead."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from tradeforge.adapters.clocks import SimulatedClock
from tradeforge.domain.data import Bar
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.events import OrderCancelled, OrderEvent, OrderSubmitted
from tradeforge.domain.fills import Fill, OrderSide
from tradeforge.indicators import donchian
from tradeforge.strategies import resolve
from tradeforge.strategies.builtin.common import OwnOrders
from tradeforge.strategies.builtin.support_resistance import SupportResistance

from .support import T0, StrategyRun, bar_index, columns, host, make_system, sample_bars, tick_price

BARS = 3_000
SWING, TOLERANCE, MAX_LEVELS, STOP, BREAK, TARGET = 5, 0.1, 10, 0.2, 0.05, 0.5
PARAMS = {"swing": SWING, "tolerance_pct": TOLERANCE, "max_levels": MAX_LEVELS, "quantity": "0.01"}


def swing_points(bars: list[Bar], swing: int) -> dict[int, list[float]]:
    """Bar at which each swing point becomes known -> its prices (high first). A swing high at i:
    the highest of bars i-s..i+s (the Donchian upper of 2s+1 bars ending at i+s) and above every
    high of the s bars before it (the Donchian upper of s bars ending at i-1); lows mirror it."""
    _, highs, lows, _ = columns(bars)
    wide_high, wide_low = donchian(highs, lows, 2 * swing + 1)
    left_high, left_low = donchian(highs, lows, swing)
    known: dict[int, list[float]] = {}
    for i in range(swing, len(bars) - swing):
        if highs[i] == wide_high[i + swing] and highs[i] > left_high[i - 1]:
            known.setdefault(i + swing, []).append(highs[i])
        if lows[i] == wide_low[i + swing] and lows[i] < left_low[i - 1]:
            known.setdefault(i + swing, []).append(lows[i])
    return known


def level_history(bars: list[Bar], swing: int = SWING) -> list[list[tuple[float, int]]]:
    """The (price, touches) levels after each bar: each new point joins the nearest level within
    the tolerance (mean of its points) or starts one; only the MAX_LEVELS latest touched stay."""
    known = swing_points(bars, swing)
    levels: list[list[Any]] = []  # [price, touches, last swing bar]
    history = []
    for t in range(len(bars)):
        for price in known.get(t, []):
            near = [lv for lv in levels if abs(price - lv[0]) <= lv[0] * TOLERANCE / 100]
            if near:
                level = min(near, key=lambda lv: abs(price - lv[0]))
                level[0] = (level[0] * level[1] + price) / (level[1] + 1)
                level[1] += 1
                level[2] = t - swing
            else:
                levels.append([price, 1, t - swing])
                if len(levels) > MAX_LEVELS:
                    levels.remove(min(levels, key=lambda lv: lv[2]))
        history.append([(lv[0], lv[1]) for lv in levels])
    return history


def wanted_entries(
    levels: list[tuple[float, int]], close: float
) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    """role -> (entry price, stop loss, take profit) as the documented rule prices them."""
    below = [p for p, _ in levels if p < close]
    above = [p for p, _ in levels if p > close]
    support = max(below) if below else None
    resistance = min(above) if above else None
    wanted = {}
    if support is not None and resistance is not None:
        wanted["bounce"] = (
            tick_price(support),
            tick_price(support * (1 - STOP / 100)),
            tick_price(resistance),
        )
    if resistance is not None:
        entry = resistance * (1 + BREAK / 100)
        beyond = [p for p, _ in levels if p > entry]
        target = min(beyond) if beyond else resistance * (1 + TARGET / 100)
        wanted["break"] = (tick_price(entry), tick_price(resistance * (1 - STOP / 100)), tick_price(target))
    return {role: prices for role, prices in wanted.items() if prices[2] > prices[0]}


class Listening(SupportResistance):
    """support_resistance that also keeps the events of its orders in the order it hears them, and
    the orders it cancels before it has heard their OrderSubmitted."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.heard: list[OrderEvent] = []
        self.cancelled_unannounced: list[str] = []
        self.own = _RecordingOwnOrders(self)

    def on_order_event(self, event: OrderEvent) -> None:
        self.heard.append(event)
        super().on_order_event(event)


class _RecordingOwnOrders(OwnOrders):
    def __init__(self, strategy: Listening) -> None:
        super().__init__(strategy)
        self._listening = strategy

    def cancel(self, order_id: str) -> bool:
        announced = any(
            isinstance(e, OrderSubmitted) and e.order_id == order_id for e in self._listening.heard
        )
        cancelled = super().cancel(order_id)
        if cancelled and not announced:
            self._listening.cancelled_unannounced.append(order_id)
        return cancelled


@dataclass
class Snapshot:
    held: Decimal
    booked: Decimal  # the runner's book of the strategy's fills
    unmatched: set[str]  # orders it follows that are not working, or working that it does not follow
    entries: dict[str, tuple[Decimal, Decimal, Decimal]] = field(default_factory=dict)
    exits: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    levels: list[tuple[float, int]] = field(default_factory=list)


def snapshot(run: StrategyRun) -> Snapshot:
    strategy = run.strategy
    assert isinstance(strategy, SupportResistance)
    (status,) = run.runner.status()
    working = {order.id for order in strategy.ctx.working_orders()}
    snap = Snapshot(
        strategy.held("BTC/USDT"),
        status.positions.get("BTC/USDT", Decimal(0)),
        set(strategy.own.tracked()) ^ working,
    )
    snap.levels = [(lv.price, lv.touches) for lv in strategy.levels("BTC/USDT").levels]
    for item in strategy.own.working("BTC/USDT"):
        view, tag = item.order, item.tag
        role = tag["role"]
        if role == "bounce":
            assert view.type.value == "limit" and view.price is not None
            snap.entries[role] = (view.price, Decimal(tag["stop"]), Decimal(tag["target"]))
        elif role == "break":
            assert view.type.value == "stop" and view.stop_price is not None
            snap.entries[role] = (view.stop_price, Decimal(tag["stop"]), Decimal(tag["target"]))
        else:
            price = view.stop_price if role == "stop" else view.price
            assert price is not None and role not in snap.exits
            snap.exits[role] = (price, view.quantity - view.filled_quantity)
    return snap


def run_on(bars: list[Bar], **params: Any) -> tuple[StrategyRun, list[Snapshot]]:
    clock = SimulatedClock(T0)
    # Each working exit reserves the base quantity on the paper venue, so the account holds BTC too.
    system = make_system(clock, USDT="1000000", BTC="1")
    run = host(system, clock, Listening({**PARAMS, **params}))
    snaps: list[Snapshot] = []
    run.feed(bars, lambda _i, _bar: snaps.append(snapshot(run)))
    return run, snaps


@pytest.fixture(scope="module")
def sample() -> list[Bar]:
    clock = SimulatedClock(T0)
    return sample_bars(make_system(clock), BARS)


@pytest.fixture(scope="module")
def traded(sample: list[Bar]) -> tuple[StrategyRun, list[Snapshot]]:
    return run_on(sample)


def test_levels_are_the_swing_points_known_so_far(
    sample: list[Bar], traded: tuple[StrategyRun, list[Snapshot]]
) -> None:
    _, snaps = traded
    history = level_history(sample)
    assert [s.levels for s in snaps] == history
    assert sum(1 for points in swing_points(sample, SWING).values() for _ in points) > 300
    assert max(touches for levels in history for _, touches in levels) >= 3  # clusters do form


def test_orders_are_what_the_rule_asks_after_every_bar(
    sample: list[Bar], traded: tuple[StrategyRun, list[Snapshot]]
) -> None:
    run, snaps = traded
    history = level_history(sample)
    fill_bars = {bar_index(sample)[f.ts] for f in run.fills}
    checked_flat = checked_holding = 0
    for t, snap in enumerate(snaps):
        if t in fill_bars:
            continue  # a bar that filled something is checked trade by trade below
        if snap.held == 0:
            assert snap.entries == wanted_entries(history[t], float(sample[t].close)), t
            assert snap.exits == {}
            checked_flat += 1
        else:
            assert snap.entries == {}
            assert set(snap.exits) == {"stop", "target"} and all(
                q == snap.held for _, q in snap.exits.values()
            )
            checked_holding += 1
    assert checked_flat > 500 and checked_holding > 1_000


def test_each_trade_exits_at_its_level_and_the_stops_are_honored(
    sample: list[Bar], traded: tuple[StrategyRun, list[Snapshot]]
) -> None:
    run, snaps = traded
    at = bar_index(sample)
    history = level_history(sample)
    kinds = {e.order_id: e.type for e in run.submitted}
    trades = {"bounce": 0, "break": 0, "stop": 0, "target": 0, "both": 0}
    position = Decimal(0)
    exits: tuple[Decimal, Decimal] | None = None
    last_buy: Fill | None = None
    for fill in run.fills:
        t = at[fill.ts]
        if fill.side is OrderSide.BUY:
            # The entry rested since the bar before, priced from that bar's levels and close.
            role = "bounce" if kinds[fill.order_id] == "limit" else "break"
            price, stop, target = wanted_entries(history[t - 1], float(sample[t - 1].close))[role]
            if role == "bounce":
                assert fill.price == min(sample[t].open, price)  # a buy limit: at the limit or better
            else:
                assert fill.price == max(sample[t].open, price)  # a buy stop: at its trigger
            if position:  # one wide bar filled both entries: the break's exits cover both
                trades["both"] += 1
                assert last_buy is not None and at[last_buy.ts] == t
                assert kinds[last_buy.order_id] != kinds[fill.order_id]
            if not position or role == "break":
                exits = (stop, target)
            trades[role] += 1
            position += fill.quantity
            last_buy = fill
        else:
            assert exits is not None and fill.quantity == position
            stop, target = exits
            if kinds[fill.order_id] == "stop":
                # At the stop, or the open when the bar gapped through it, or the close of the
                # entry bar when that close was already below the stop as the exits were placed.
                assert fill.price <= stop and fill.price in (stop, sample[t].open, sample[t].close)
                trades["stop"] += 1
            else:
                assert fill.price >= target
                trades["target"] += 1
            position -= fill.quantity
            exits = None
    assert position == snaps[-1].held
    assert trades["bounce"] >= 20 and trades["break"] >= 20, trades
    assert trades["stop"] >= 10 and trades["target"] >= 10, trades
    assert trades["both"] <= trades["bounce"] // 10, trades


def test_its_holding_and_orders_follow_what_it_heard_while_the_oms_is_ahead(
    traded: tuple[StrategyRun, list[Snapshot]],
) -> None:
    """It reacts to a fill as it hears it; an exit it places then can fill on the spot, and it cancels
    the sibling exit before that one's OrderSubmitted (committed with the exit that filled, still on
    its way) reaches it. Events come in commit order, so each order is first heard by its
    OrderSubmitted, and such an order is then heard to the end, cancelled. Its books stay exact:
    after every bar its holding is the runner's book of its fills and it follows exactly its
    working orders, nothing left over."""
    run, snaps = traded
    strategy = run.strategy
    assert isinstance(strategy, Listening)
    events: dict[str, list[OrderEvent]] = {}
    for event in strategy.heard:
        events.setdefault(event.order_id, []).append(event)
    assert all(isinstance(heard[0], OrderSubmitted) for heard in events.values())
    early = strategy.cancelled_unannounced
    assert len(early) >= 2  # six times in 3,000 bars
    assert all(isinstance(events[oid][-1], OrderCancelled) for oid in early)
    assert all(snap.held == snap.booked for snap in snaps)
    assert all(snap.unmatched == set() for snap in snaps)
    assert strategy.state["own"]["orders"].keys() == {o.id for o in strategy.ctx.working_orders()}


def test_a_decision_never_depends_on_later_bars(
    sample: list[Bar], traded: tuple[StrategyRun, list[Snapshot]]
) -> None:
    """Cut the series at bar t and replace every later bar with a different path (mirrored around
    bar t's close): the orders up to bar t, and what the strategy has working after it, are the same."""
    full, full_snaps = traded
    for t in (700, 1_500, 2_400):
        pivot = sample[t].close
        altered = sample[: t + 1] + [_mirror(item, pivot) for item in sample[t + 1 : t + 300]]
        run, snaps = run_on(altered)
        cut = sample[t].close_ts
        assert _orders(run, cut) == _orders(full, cut)
        assert snaps[t] == full_snaps[t]
        assert snaps[-1] != full_snaps[len(altered) - 1]  # the altered future did change later decisions


def _mirror(item: Bar, pivot: Decimal) -> Bar:
    def flip(price: Decimal) -> Decimal:
        return 2 * pivot - price

    return Bar(
        item.symbol,
        item.timeframe,
        item.ts,
        flip(item.open),
        flip(item.low),
        flip(item.high),
        flip(item.close),
        item.volume,
    )


def _orders(run: StrategyRun, until: int) -> list[tuple[Any, ...]]:
    return [(e.ts, e.side, e.type, e.price, e.stop_price, e.quantity) for e in run.submitted if e.ts <= until]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"swing": 0}, "config.swing"),
        ({"tolerance_pct": 0}, "config.tolerance_pct"),
        ({"max_levels": 0}, "config.max_levels"),
        ({"min_touches": 0}, "config.min_touches"),
        ({"quantity": "0"}, "config.quantity"),
        ({"stop_pct": 100}, "config.stop_pct"),
        ({"break_pct": -0.1}, "config.break_pct"),
        ({"break_pct": 0.5, "target_pct": 0.5}, "config.target_pct"),
        ({"bounce": False, "breaks": False}, "config.bounce"),
        ({"swing": 2.5}, "config.swing"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(params: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        SupportResistance(params)
    assert raised.value.field == field


def test_only_bounces_when_breaks_are_off(sample: list[Bar]) -> None:
    assert resolve("support_resistance") is SupportResistance
    run, snaps = run_on(sample[:1_500], breaks="false")
    assert {e.type for e in run.submitted if e.side == "buy"} == {"limit"}
    assert any(s.entries for s in snaps) and all(set(s.entries) <= {"bounce"} for s in snaps)
    assert any(f.side is OrderSide.BUY for f in run.fills)
