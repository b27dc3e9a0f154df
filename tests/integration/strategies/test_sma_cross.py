"""The built-in sma_cross on real BTC/USDT minutes trades exactly at the independently computed crosses."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from tradeforge.adapters.clocks import SimulatedClock
from tradeforge.bus import topics
from tradeforge.domain.events import OrderSubmitted
from tradeforge.domain.fills import Fill, OrderSide
from tradeforge.domain.orders import OrderStatus
from tradeforge.indicators import exact_sma_cross
from tradeforge.strategies import StrategyRunner, StrategyStatus
from tradeforge.strategies.builtin.sma_cross import SmaCross, SmaCrossConfig

from .support import T0, feed, make_system, sample_bars


def test_sma_cross_orders_exactly_at_the_vectorized_crosses_and_books_agree() -> None:
    clock = SimulatedClock(T0)
    system = make_system(clock)
    bars = sample_bars(system, 2_000)
    submitted: list[OrderSubmitted] = []
    fills: list[Fill] = []
    system.bus.subscribe(topics.order_event("submitted"), submitted.append)
    system.bus.subscribe(topics.ALL_FILLS, fills.append)
    runner = StrategyRunner(system)
    runner.add("sma", SmaCross({"fast": 10, "slow": 30, "quantity": "0.01"}), ["BTC/USDT"], "1m")
    runner.start("sma")

    for item in bars:
        clock.set(item.close_ts)
        system.process_bar(item)

    closes = np.array([float(b.close) for b in bars])
    crosses = exact_sma_cross(closes, 10, 30, 2)
    expected: list[tuple[int, OrderSide, Decimal]] = []
    holding = False
    for index in np.flatnonzero(crosses):
        if crosses[index] > 0 and not holding:
            expected.append((bars[index].close_ts, OrderSide.BUY, bars[index].close))
            holding = True
        elif crosses[index] < 0 and holding:
            expected.append((bars[index].close_ts, OrderSide.SELL, bars[index].close))
            holding = False
    assert len(expected) > 20  # a real series crosses many times in 2,000 minutes

    assert [(e.ts, OrderSide(e.side)) for e in submitted] == [(ts, side) for ts, side, _ in expected]
    assert all(e.strategy_id == "sma" and e.client_order_id == f"sma-{n}" for n, e in enumerate(submitted, 1))
    assert [(f.ts, f.side, f.price) for f in fills] == expected  # market orders fill at the bar's close
    assert all(f.quantity == Decimal("0.01") and f.strategy_id == "sma" for f in fills)
    orders = [system.oms.get(e.order_id) for e in submitted]
    assert all(o is not None and o.status is OrderStatus.FILLED for o in orders)

    position = Decimal("0.01") if holding else Decimal("0")
    assert system.portfolio.position_quantity("main", "BTC/USDT") == position
    (view,) = runner.status()
    assert view.status is StrategyStatus.RUNNING and view.fills == len(fills)
    assert view.positions == {"BTC/USDT": position}
    closed = len(fills) - (1 if holding else 0)
    realized = sum(
        ((f.price if f.side is OrderSide.SELL else -f.price) * f.quantity for f in fills[:closed]),
        Decimal(0),
    )
    assert view.realized_pnl == realized
    assert view.fees == sum((f.fee for f in fills), Decimal(0)) > 0
    account = system.portfolio.position("main", "BTC/USDT")
    assert account is not None and account.realized_pnl == view.realized_pnl


def test_sma_cross_config_is_typed_and_frozen() -> None:
    strategy = SmaCross({"fast": "5", "slow": 20, "quantity": "0.5"})
    assert strategy.config == SmaCrossConfig(5, 20, Decimal("0.5"))
    assert SmaCross().config == SmaCrossConfig()


def test_sma_cross_trades_only_its_own_holding_never_a_manual_one() -> None:
    from tradeforge.domain.commands import SubmitOrder
    from tradeforge.domain.orders import OrderType

    clock = SimulatedClock(T0)
    system = make_system(clock)
    bars = sample_bars(system, 2_000)
    feed(system, clock, bars[:1])
    manual, _ = system.send(
        SubmitOrder("main", "by-hand", "BTC/USDT", OrderSide.BUY, OrderType.MARKET, Decimal("0.05"))
    )
    assert manual.filled_quantity == Decimal("0.05")
    fills: list[Fill] = []
    system.bus.subscribe(topics.ALL_FILLS, fills.append)
    runner = StrategyRunner(system)
    runner.add("sma", SmaCross({"fast": 10, "slow": 30, "quantity": "0.01"}), ["BTC/USDT"], "1m")
    runner.start("sma")
    for item in bars[1:]:
        clock.set(item.close_ts)
        system.process_bar(item)
    own = [f for f in fills if f.strategy_id == "sma"]
    assert len(own) >= 4  # it did trade
    own_net = sum((f.quantity if f.side is OrderSide.BUY else -f.quantity) for f in own)
    assert all(f.quantity == Decimal("0.01") for f in own)  # never sized by the account's position
    assert system.portfolio.position_quantity("main", "BTC/USDT") == Decimal("0.05") + own_net
    assert own_net in (Decimal(0), Decimal("0.01"))
