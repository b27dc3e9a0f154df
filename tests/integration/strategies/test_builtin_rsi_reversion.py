"""The built-in rsi_reversion on real BTC/USDT minutes trades at the RSI crosses computed independently
with the vectorized indicator, and its bracket exits fill where the paper venue's rules say."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from tradeforge.adapters.clocks import SimulatedClock
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.fills import OrderSide
from tradeforge.indicators import rsi
from tradeforge.runtime.service import add_strategy
from tradeforge.strategies import StrategyStatus, resolve
from tradeforge.strategies.builtin.rsi_reversion import RsiReversion, RsiReversionConfig

from .support import (
    T0,
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


def rule_signals(
    closes: np.ndarray, period: int, oversold: float, exit_level: float
) -> list[tuple[int, OrderSide]]:
    """The rule on the vectorized RSI: buy a cross below oversold when flat, sell a cross above exit."""
    values = rsi(closes, period)
    signals: list[tuple[int, OrderSide]] = []
    holding = False
    for t in range(1, len(values)):
        previous, current = values[t - 1], values[t]
        if np.isnan(previous):
            continue
        if holding and previous <= exit_level < current:
            signals.append((t, OrderSide.SELL))
            holding = False
        elif not holding and previous >= oversold > current:
            signals.append((t, OrderSide.BUY))
            holding = True
    return signals


def test_orders_at_the_vectorized_rsi_crosses_and_only_its_own_holding_is_sold() -> None:
    clock = SimulatedClock(T0)
    system = make_system(clock, USDT="1000000", BTC="0.5")  # BTC it must never sell
    bars = sample_bars(system, BARS)
    run = host(
        system, clock, RsiReversion({"period": 14, "oversold": 30, "overbought": 70, "quantity": "0.01"})
    )
    run.feed(bars)

    _, _, _, closes = columns(bars)
    expected = rule_signals(closes, 14, 30.0, 70.0)
    assert len(expected) >= 15  # ~3,000 real minutes cross the bands many times
    at = bar_index(bars)
    assert [(at[e.ts], OrderSide(e.side), e.type) for e in run.submitted] == [
        (t, side, "market") for t, side in expected
    ]
    # Live paper mode: market orders fill at once at the signal bar's close.
    assert [(at[f.ts], f.side, f.price, f.quantity) for f in run.fills] == [
        (t, side, bars[t].close, QUANTITY) for t, side in expected
    ]
    holding = expected[-1][1] is OrderSide.BUY
    own = QUANTITY if holding else Decimal(0)
    assert run.strategy.held("BTC/USDT") == own
    assert run.strategy.ctx.balances()["BTC"] == Decimal("0.5") + own  # the deposit untouched
    (view,) = run.runner.status()
    assert view.status is StrategyStatus.RUNNING and view.positions == {"BTC/USDT": own}


def simulate_bracket(
    bars: list, stop_pct: float, take_pct: float
) -> list[tuple[int, OrderSide, Decimal, str]]:
    """Independent replay of the bracketed rule under the paper venue's documented matching rules:
    entry at the signal bar's close; from the next bar on, the sell stop triggers when low <= stop
    (at min(open, stop)), else the take-profit limit fills when the bar trades above it (at the open
    if it gapped over); stops go before limits; then the RSI exit, then (flat) a new entry."""
    _, highs, lows, closes = columns(bars)
    values = rsi(closes, 14)
    fills: list[tuple[int, OrderSide, Decimal, str]] = []
    stop = take = None
    holding = False
    for t in range(1, len(bars)):
        if holding and stop is not None and take is not None:
            stop_hit = lows[t] <= float(stop)
            take_hit = highs[t] > float(take)
            assert not (stop_hit and take_hit), "both exits in one bar: outside what this test models"
            if stop_hit:
                fills.append((t, OrderSide.SELL, min(bars[t].open, stop), "stop"))
            elif take_hit:
                fills.append((t, OrderSide.SELL, max(bars[t].open, take), "limit"))
            if stop_hit or take_hit:
                holding, stop, take = False, None, None
        previous, current = values[t - 1], values[t]
        if np.isnan(previous):
            continue
        if holding and previous <= 70.0 < current:
            fills.append((t, OrderSide.SELL, bars[t].close, "market"))
            holding, stop, take = False, None, None
        elif not holding and previous >= 30.0 > current:
            fills.append((t, OrderSide.BUY, bars[t].close, "market"))
            holding = True
            stop = tick_price(closes[t] * (1 - stop_pct / 100))
            take = tick_price(closes[t] * (1 + take_pct / 100))
    return fills


def test_bracket_exits_fill_as_the_venue_rules_say_and_act_as_oco() -> None:
    clock = SimulatedClock(T0)
    # Each bracket exit reserves the base quantity on the paper venue, so the account holds BTC too.
    system = make_system(clock, USDT="1000000", BTC="1")
    bars = sample_bars(system, BARS)
    params = {"quantity": "0.01", "stop_loss_pct": "0.25", "take_profit_pct": 0.3}
    run = host(system, clock, resolve("rsi_reversion")(params))
    run.feed(bars)

    expected = simulate_bracket(bars, 0.25, 0.3)
    kinds = [kind for *_, kind in expected]
    assert kinds.count("stop") >= 3 and kinds.count("limit") >= 3 and kinds.count("market") >= 10
    types = {e.order_id: e.type for e in run.submitted}
    at = bar_index(bars)
    assert [(at[f.ts], f.side, f.price, types[f.order_id]) for f in run.fills] == expected
    assert all(f.quantity == QUANTITY for f in run.fills)
    # OCO: after each exit nothing of the bracket is left working; at the end at most one pair is.
    working = run.strategy.ctx.working_orders()
    assert len(working) == (2 if expected[-1][1] is OrderSide.BUY else 0)
    entries = [e for e in run.submitted if e.side == "buy"]
    exits = [e for e in run.submitted if e.type in ("stop", "limit")]
    assert len(exits) == 2 * len(entries)  # a stop and a limit for each (filled) entry
    assert all(e.quantity == QUANTITY for e in exits)


def test_next_open_fills_come_one_bar_after_the_signals() -> None:
    clock = SimulatedClock(T0)
    system = make_next_open_system(clock)
    bars = sample_bars(system, BARS)
    run = host(system, clock, RsiReversion({"quantity": "0.01"}))
    run.feed(bars)

    _, _, _, closes = columns(bars)
    expected = rule_signals(closes, 14, 30.0, 70.0)
    at = bar_index(bars)
    assert [(at[e.ts], OrderSide(e.side)) for e in run.submitted] == expected
    filled = [(t, side) for t, side in expected if t + 1 < len(bars)]
    assert [(at[f.ts], f.side, f.price) for f in run.fills] == [
        (t + 1, side, bars[t + 1].open) for t, side in filled
    ]


def test_exit_level_replaces_overbought_as_the_exit() -> None:
    clock = SimulatedClock(T0)
    system = make_system(clock)
    bars = sample_bars(system, BARS)
    run = host(system, clock, RsiReversion({"exit_level": "50", "quantity": "0.01"}))
    run.feed(bars)
    _, _, _, closes = columns(bars)
    expected = rule_signals(closes, 14, 30.0, 50.0)
    assert expected != rule_signals(closes, 14, 30.0, 70.0)
    at = bar_index(bars)
    assert [(at[e.ts], OrderSide(e.side)) for e in run.submitted] == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"oversold": 70, "overbought": 70}, "config.oversold"),
        ({"oversold": 80}, "config.oversold"),
        ({"overbought": 100}, "config.overbought"),
        ({"period": 1}, "config.period"),
        ({"exit_level": 25}, "config.exit_level"),
        ({"exit_level": "high"}, "config.exit_level"),
        ({"quantity": "0"}, "config.quantity"),
        ({"stop_loss_pct": 1}, "config.take_profit_pct"),
        ({"take_profit_pct": 1}, "config.stop_loss_pct"),
        ({"stop_loss_pct": 100, "take_profit_pct": 1}, "config.stop_loss_pct"),
        ({"oversold_level": 20}, "config.oversold_level"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(params: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        RsiReversion(params)
    assert raised.value.field == field


def test_config_from_strings_and_through_the_service_entry_point() -> None:
    strategy = RsiReversion(
        {"period": "7", "oversold": "25", "exit_level": "55", "stop_loss_pct": "1", "take_profit_pct": "2"}
    )
    assert strategy.config == RsiReversionConfig(7, 25.0, 70.0, 55.0, Decimal("0.01"), 1.0, 2.0)
    assert strategy.config.exit == 55.0 and RsiReversion().config.exit == 70.0
    clock = SimulatedClock(T0)
    system = make_system(clock)
    with pytest.raises(ValidationError) as raised:
        add_strategy(system, "rsi", "rsi_reversion", ("BTC/USDT",), "1m", {"oversold": 75}, "body.")
    assert raised.value.field == "body.params.oversold" and "overbought" in raised.value.message
