"""The built-in grid on real BTC/USDT minutes: its orders sit on the levels of the reference computed
independently, every fill is answered one level away, inventory never exceeds max_inventory, and a
restart from its saved state continues the same grid without placing anything twice."""

from __future__ import annotations

import itertools
from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest

from tradeforge.adapters.clocks import SimulatedClock
from tradeforge.domain.data import Bar
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.fills import OrderSide
from tradeforge.runtime.bootstrap import Mode, build
from tradeforge.runtime.settings import Settings
from tradeforge.strategies import resolve
from tradeforge.strategies.base import BarView
from tradeforge.strategies.builtin.grid import Grid

from .support import T0, StrategyRun, bar_index, host, make_system, sample_bars

BARS = 3_000
LEVELS, SPACING, QUANTITY, MAX_INVENTORY = 4, Decimal("0.15"), Decimal("0.001"), Decimal("0.003")
PARAMS = {"levels": LEVELS, "spacing_pct": "0.15", "quantity": "0.001", "max_inventory": "0.003"}
CENT = Decimal("0.01")


def price_at(reference: Decimal, level: int) -> Decimal:
    return (reference * (1 + level * SPACING / 100) / CENT).to_integral_value(ROUND_HALF_EVEN) * CENT


def references(bars: list[Bar]) -> list[Decimal]:
    """The grid's reference after each bar: the first close, then any close beyond the outermost
    level (above +LEVELS or below -LEVELS) of the current reference."""
    reference = bars[0].close
    history = []
    for item in bars:
        if item.close > price_at(reference, LEVELS) or item.close < price_at(reference, -LEVELS):
            reference = item.close
        history.append(reference)
    return history


def working_book(run: StrategyRun) -> Counter[tuple[str, Decimal | None, Decimal]]:
    return Counter(
        (o.side.value, o.price, o.quantity - o.filled_quantity) for o in run.strategy.ctx.working_orders()
    )


class EagerGrid(Grid):
    """The grid deciding each bar as it arrives, before its reactions still on their way (answers
    that filled at once) are heard: its bounds must hold in any order of its events."""

    def on_bar(self, bar: BarView) -> None:
        self.on_settled_bar(bar)


@pytest.mark.parametrize("kind", [Grid, EagerGrid])
def test_orders_sit_on_the_grid_every_fill_is_answered_and_inventory_stays_bounded(kind: type[Grid]) -> None:
    clock = SimulatedClock(T0)
    system = make_system(clock, USDT="1000000", BTC="0.2")
    bars = sample_bars(system, BARS)
    run = host(system, clock, kind(PARAMS))
    strategy = run.strategy
    assert isinstance(strategy, Grid)
    expected_refs = references(bars)
    at = bar_index(bars)
    peak = Decimal(0)

    def check(t: int, _bar: Bar) -> None:
        nonlocal peak
        reference = strategy.reference("BTC/USDT")
        assert reference == expected_refs[t], t
        held = strategy.held("BTC/USDT")
        working = strategy.ctx.working_orders()
        buying = sum((o.quantity - o.filled_quantity for o in working if o.side is OrderSide.BUY), Decimal(0))
        selling = sum(
            (o.quantity - o.filled_quantity for o in working if o.side is OrderSide.SELL), Decimal(0)
        )
        assert Decimal(0) <= held <= MAX_INVENTORY and held + buying <= MAX_INVENTORY, t
        assert selling <= held, t  # long-only: it only offers what it holds
        grid = {price_at(reference, k): k for k in range(-LEVELS, LEVELS + 1)}
        assert all(o.price in grid for o in working), t
        assert len({o.price for o in working}) == len(working), t  # one order per level at most
        peak = max(peak, held)

    run.feed(bars, check)

    recentres = sum(1 for a, b in itertools.pairwise(expected_refs) if a != b)
    assert recentres >= 5
    assert peak == MAX_INVENTORY  # the bound was reached, and held
    assert len(run.fills) >= 100
    # Every completely filled order is answered in the same bar one level away on the other side
    # (a buy at level k by a sell at k + 1, a sell at k by a buy at k - 1), unless that bar re-centred.
    by_id = {e.order_id: e for e in run.submitted}
    answered = 0
    for fill in run.fills:
        t = at[fill.ts]
        order = by_id[fill.order_id]
        if t == 0 or expected_refs[t] != expected_refs[t - 1] or order.quantity != fill.quantity:
            continue
        reference = expected_refs[t]
        levels = {price_at(reference, k): k for k in range(-LEVELS - 1, LEVELS + 2)}
        level = levels[order.price]
        step = 1 if fill.side is OrderSide.BUY else -1
        answers = [
            e
            for e in run.submitted
            if at[e.ts] == t
            and e.side == fill.side.opposite.value
            and e.price == price_at(reference, level + step)
            and e.quantity == fill.quantity
        ]
        assert answers, (t, fill)
        answered += 1
    assert answered >= 100
    # Answers that filled at once, their events behind the bar that filled what they answer; some
    # in a bar that re-centred the grid (which Grid decides once it has heard them).
    placed_at = {e.order_id: at[e.ts] for e in run.submitted}
    at_once = [at[f.ts] for f in run.fills if placed_at[f.order_id] == at[f.ts]]
    assert len(at_once) >= 10 and any(expected_refs[t] != expected_refs[t - 1] for t in at_once)
    assert strategy.ctx.balances()["BTC"] == Decimal("0.2") + strategy.held("BTC/USDT")


def _sqlite_settings(tmp_path: Path, name: str) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / name}",
        var_dir=tmp_path,
        feeds=(),
        starting_balances={"USDT": Decimal("1000000")},
    )


def _grid_run(settings: Settings, clock: SimulatedClock) -> StrategyRun:
    system = build(settings, Mode.SYNC, clock=clock)
    return host(system, clock, resolve("grid")(PARAMS), "grid")


def _fills(run: StrategyRun) -> list[tuple[int, str, Decimal, Decimal]]:
    return [(f.ts, f.side.value, f.price, f.quantity) for f in run.fills]


@pytest.mark.parametrize("cancel_on_stop", [True, False])
def test_a_restart_from_saved_state_continues_the_same_grid(tmp_path: Path, cancel_on_stop: bool) -> None:
    """Stop (cancelling the grid's orders, or leaving them at the venue), build a new system on the
    same database, start the grid from its saved state: the same orders work again, none twice,
    and the rest of the run fills exactly as an uninterrupted run does."""
    bars = sample_bars(make_system(SimulatedClock(T0)), 1_200)
    cut = 650  # a moment with buys and sells working

    clock = SimulatedClock(T0)
    whole = _grid_run(_sqlite_settings(tmp_path, "whole.db"), clock)
    whole.feed(bars)
    whole.system.close()

    clock = SimulatedClock(T0)
    settings = _sqlite_settings(tmp_path, "restart.db")
    first = _grid_run(settings, clock)
    first.feed(bars[:cut])
    before = working_book(first)
    held = first.strategy.held("BTC/USDT")
    assert {side for side, _, _ in before} == {"buy", "sell"} and held > 0
    first.runner.stop("grid", cancel_orders=cancel_on_stop)
    assert (first.strategy.ctx.working_orders() == []) is cancel_on_stop
    first.system.close()

    second = _grid_run(settings, clock)
    assert second.strategy.held("BTC/USDT") == held
    assert working_book(second) == before  # the same grid: every level once, nothing doubled
    assert len(second.submitted) == (sum(before.values()) if cancel_on_stop else 0)
    second.feed(bars[cut:])
    assert _fills(first) + _fills(second) == _fills(whole)
    assert working_book(second) == working_book(whole)
    second.system.close()


def test_fills_while_stopped_are_answered_on_start(tmp_path: Path) -> None:
    """Orders left working at the venue fill while the strategy is stopped: on start it catches up
    from the orders themselves, counts the holding and posts the answers it owes."""
    bars = sample_bars(make_system(SimulatedClock(T0)), 1_200)
    clock = SimulatedClock(T0)
    settings = _sqlite_settings(tmp_path, "gap.db")
    first = _grid_run(settings, clock)
    first.feed(bars[:300])
    first.runner.stop("grid", cancel_orders=False)
    book = {o.id: o for o in first.strategy.ctx.working_orders()}
    first.feed(bars[300:700])  # the venue keeps matching; the strategy sees nothing
    missed = [f for f in first.fills if f.ts > bars[299].close_ts]
    assert missed and all(f.order_id in book for f in missed)
    held = first.strategy.held("BTC/USDT")  # as of the stop
    first.system.close()

    second = _grid_run(settings, clock)
    strategy = second.strategy
    assert isinstance(strategy, Grid)
    change = sum((f.quantity if f.side is OrderSide.BUY else -f.quantity for f in missed), Decimal(0))
    assert strategy.held("BTC/USDT") == held + change
    answered = Counter((e.side, e.quantity) for e in second.submitted)
    owed = Counter((f.side.opposite.value, f.quantity) for f in missed)
    assert answered == owed  # one answer per filled order, one level away
    reference = strategy.reference("BTC/USDT")
    assert reference is not None
    levels = {price_at(reference, k) for k in range(-LEVELS, LEVELS + 1)}
    assert all(o.price in levels for o in strategy.ctx.working_orders())
    assert strategy.held("BTC/USDT") <= MAX_INVENTORY
    second.system.close()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"levels": 0}, "config.levels"),
        ({"levels": 51}, "config.levels"),
        ({"spacing_pct": "0"}, "config.spacing_pct"),
        ({"levels": 10, "spacing_pct": "10"}, "config.spacing_pct"),
        ({"quantity": "0"}, "config.quantity"),
        ({"quantity": "0.01", "max_inventory": "0.005"}, "config.max_inventory"),
        ({"recenter": "maybe"}, "config.recenter"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(params: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Grid(params)
    assert raised.value.field == field


def test_without_recenter_the_reference_stays() -> None:
    clock = SimulatedClock(T0)
    system = make_system(clock)
    bars = sample_bars(system, 1_500)
    run = host(system, clock, Grid({**PARAMS, "recenter": "false"}))
    run.feed(bars)
    strategy = run.strategy
    assert isinstance(strategy, Grid) and strategy.reference("BTC/USDT") == bars[0].close
    assert references(bars)[-1] != bars[0].close  # with re-centring it would have moved
