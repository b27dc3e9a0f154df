"""The built-in breakout on real BTC/USDT minutes enters and exits at the channel breaks computed with
the vectorized Donchian/Bollinger indicators, and its ATR trailing stop follows the emulation's rules."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import numpy as np
import pytest

from tradeforge.adapters.clocks import SimulatedClock
from tradeforge.domain.data import Bar
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.fills import OrderSide
from tradeforge.indicators import atr, bollinger, donchian
from tradeforge.strategies import resolve
from tradeforge.strategies.builtin.breakout import Breakout, BreakoutConfig

from .support import (
    T0,
    FloatArray,
    bar_index,
    columns,
    host,
    make_next_open_system,
    make_system,
    sample_bars,
    tick_price,
)

BARS = 3_000
QUANTITY = Decimal("0.01")
TICK = Decimal("0.01")


def prior(values: FloatArray) -> FloatArray:
    """values[t - 1] at t: the channel of the bars before t."""
    return np.concatenate(([np.nan], values[:-1]))


def channel_signals(bars: list[Bar], upper: FloatArray, exit_period: int) -> list[tuple[int, OrderSide]]:
    """The rule: flat and close > upper of the bars before -> buy; holding and close < the lowest
    low of the exit_period bars before -> sell."""
    _, highs, lows, closes = columns(bars)
    lower = prior(donchian(highs, lows, exit_period)[1])
    signals: list[tuple[int, OrderSide]] = []
    holding = False
    for t in range(len(bars)):
        if holding and closes[t] < lower[t]:
            signals.append((t, OrderSide.SELL))
            holding = False
        elif not holding and closes[t] > upper[t]:
            signals.append((t, OrderSide.BUY))
            holding = True
    return signals


def test_donchian_orders_exactly_at_the_vectorized_channel_breaks() -> None:
    clock = SimulatedClock(T0)
    system = make_system(clock, USDT="1000000", BTC="0.3")
    bars = sample_bars(system, BARS)
    run = host(system, clock, Breakout({"entry_period": 20, "exit_period": 10, "quantity": "0.01"}))
    run.feed(bars)

    _, highs, lows, _ = columns(bars)
    expected = channel_signals(bars, prior(donchian(highs, lows, 20)[0]), 10)
    assert len(expected) >= 40
    at = bar_index(bars)
    assert [(at[e.ts], OrderSide(e.side), e.type) for e in run.submitted] == [
        (t, side, "market") for t, side in expected
    ]
    assert [(at[f.ts], f.side, f.price, f.quantity) for f in run.fills] == [
        (t, side, bars[t].close, QUANTITY) for t, side in expected
    ]
    own = QUANTITY if expected[-1][1] is OrderSide.BUY else Decimal(0)
    assert run.strategy.held("BTC/USDT") == own
    assert run.strategy.ctx.balances()["BTC"] == Decimal("0.3") + own


def test_bollinger_channel_enters_above_the_prior_upper_band() -> None:
    clock = SimulatedClock(T0)
    system = make_system(clock)
    bars = sample_bars(system, BARS)
    params = {"channel": "bollinger", "entry_period": 20, "k": "2.5", "exit_period": 15, "quantity": "0.01"}
    run = host(system, clock, resolve("breakout")(params))
    run.feed(bars)

    _, _, _, closes = columns(bars)
    upper = prior(bollinger(closes, 20, 2.5)[0])
    assert np.nanmin(np.abs(closes - upper)) > 1e-6  # no break is a floating-point tie
    expected = channel_signals(bars, upper, 15)
    assert len(expected) >= 20
    at = bar_index(bars)
    assert [(at[e.ts], OrderSide(e.side)) for e in run.submitted] == expected


def simulate_trailing(bars: list[Bar], multiplier: float) -> list[tuple[int, OrderSide, Decimal, str]]:
    """Independent replay: Donchian 20/10 entries and exits at the close, plus the trailing stop as
    documented: placed once the entry fills, `multiplier` x ATR(14) of the signal bar (on the tick)
    below the entry close; after each later bar whose close makes a new high it moves up to
    (high close - trail), rounded down to the tick, working from the next bar; it triggers when a
    bar's low reaches it and fills at min(open, stop). Venue matching comes before the strategy."""
    _, highs, lows, closes = columns(bars)
    upper = prior(donchian(highs, lows, 20)[0])
    lower = prior(donchian(highs, lows, 10)[1])
    ranges = atr(highs, lows, closes, 14)
    fills: list[tuple[int, OrderSide, Decimal, str]] = []
    holding = False
    stop = best = trail = Decimal(0)
    for t in range(len(bars)):
        if holding and bars[t].low <= stop:
            fills.append((t, OrderSide.SELL, min(bars[t].open, stop), "stop"))
            holding = False
        if holding and bars[t].close > best:
            best = bars[t].close
            stop = max(stop, ((best - trail) / TICK).to_integral_value(ROUND_FLOOR) * TICK)
        if holding and closes[t] < lower[t]:
            fills.append((t, OrderSide.SELL, bars[t].close, "market"))
            holding = False
        elif not holding and closes[t] > upper[t]:
            fills.append((t, OrderSide.BUY, bars[t].close, "market"))
            holding = True
            trail = max(tick_price(multiplier * ranges[t]), TICK)
            best = bars[t].close
            stop = best - trail
    return fills


def test_atr_trailing_stop_follows_the_closes_and_exits_where_the_rules_say() -> None:
    clock = SimulatedClock(T0)
    system = make_system(clock, USDT="1000000", BTC="1")
    bars = sample_bars(system, BARS)
    run = host(system, clock, Breakout({"quantity": "0.01", "atr_multiplier": "1.5"}))
    run.feed(bars)

    expected = simulate_trailing(bars, 1.5)
    kinds = [kind for *_, kind in expected]
    assert kinds.count("stop") >= 10 and kinds.count("market") >= 40
    types = {e.order_id: e.type for e in run.submitted}
    at = bar_index(bars)
    assert [(at[f.ts], f.side, f.price, types[f.order_id]) for f in run.fills] == expected
    moves = [e for e in run.submitted if e.type == "stop"]
    assert len(moves) > kinds.count("stop")  # the stop was moved up (cancel and replace) many times
    working = run.strategy.ctx.working_orders()
    if expected[-1][1] is OrderSide.BUY:
        (stop,) = working
        assert stop.side is OrderSide.SELL and stop.quantity == QUANTITY
    else:
        assert working == []


def test_next_open_fills_come_one_bar_after_the_breaks() -> None:
    clock = SimulatedClock(T0)
    system = make_next_open_system(clock)
    bars = sample_bars(system, BARS)
    run = host(system, clock, Breakout({"quantity": "0.01"}))
    run.feed(bars)

    _, highs, lows, _ = columns(bars)
    expected = channel_signals(bars, prior(donchian(highs, lows, 20)[0]), 10)
    at = bar_index(bars)
    assert [(at[e.ts], OrderSide(e.side)) for e in run.submitted] == expected
    assert [(at[f.ts], f.side, f.price) for f in run.fills] == [
        (t + 1, side, bars[t + 1].open) for t, side in expected if t + 1 < len(bars)
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"channel": "keltner"}, "config.channel"),
        ({"entry_period": 0}, "config.entry_period"),
        ({"channel": "bollinger", "entry_period": 1}, "config.entry_period"),
        ({"exit_period": -3}, "config.exit_period"),
        ({"k": 0}, "config.k"),
        ({"quantity": "-1"}, "config.quantity"),
        ({"atr_period": 0}, "config.atr_period"),
        ({"atr_multiplier": "0"}, "config.atr_multiplier"),
        ({"atr_multiplier": "wide"}, "config.atr_multiplier"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(params: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Breakout(params)
    assert raised.value.field == field


def test_config_defaults_and_strings() -> None:
    assert Breakout().config == BreakoutConfig("donchian", 20, 10, 2.0, Decimal("0.01"), 14, None)
    config = Breakout({"entry_period": "55", "exit_period": "20", "atr_multiplier": "3"}).config
    assert (config.entry_period, config.exit_period, config.atr_multiplier) == (55, 20, 3.0)
