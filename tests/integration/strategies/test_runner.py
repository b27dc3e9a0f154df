"""The runner: failures stay inside their strategy, brackets act as OCO, trailing stops follow the
price, state survives a restart on SQLite, timers reach strategies."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tradeforge.adapters.clocks import SimulatedClock
from tradeforge.domain.fills import Fill, OrderSide
from tradeforge.domain.orders import OrderStatus, OrderType
from tradeforge.runtime.bootstrap import Mode, build
from tradeforge.runtime.settings import Settings
from tradeforge.runtime.system import TradingSystem
from tradeforge.strategies import BarView, Strategy, StrategyFailed, StrategyRunner, StrategyStatus
from tradeforge.strategies import topics as strategy_topics
from tradeforge.strategies.builtin.sma_cross import SmaCross

from .support import T0, bar, feed, make_system, sample_bars


@dataclass(frozen=True)
class BoomConfig:
    fail_at: int = 5
    in_hook: str = "on_bar"


class Boom(Strategy[BoomConfig]):
    """Rests a far limit buy on its first bar, then raises on a chosen bar or timer."""

    config_class = BoomConfig

    def on_start(self) -> None:
        self.bars = 0

    def on_bar(self, bar: BarView) -> None:
        self.bars += 1
        if self.bars == 1:
            self.ctx.limit(bar.symbol, "buy", "0.01", bar.close * 0.9)  # a float: rounded to the tick
        if self.config.in_hook == "on_bar" and self.bars == self.config.fail_at:
            raise RuntimeError(f"boom at bar {self.bars}")

    def on_timer(self, now_ms: int) -> None:
        if self.config.in_hook == "on_timer":
            raise ZeroDivisionError("timer boom")


@dataclass(frozen=True)
class NoConfig:
    pass


class Counter(Strategy[NoConfig]):
    """Counts bars in its persistent state and rests one far limit order on its first bar."""

    config_class = NoConfig

    def on_bar(self, bar: BarView) -> None:
        self.state["bars"] = self.state.get("bars", 0) + 1
        if self.state["bars"] == 1:
            self.ctx.limit(bar.symbol, "buy", Decimal("0.01"), bar.close * 0.9)
        self.state["last_close"] = bar.close


class Recorder(Strategy[NoConfig]):
    config_class = NoConfig

    def on_start(self) -> None:
        self.fills: list[Fill] = []
        self.timers: list[int] = []

    def on_fill(self, fill: Fill) -> None:
        self.fills.append(fill)

    def on_timer(self, now_ms: int) -> None:
        self.timers.append(now_ms)


def test_a_failing_strategy_is_stopped_alone_and_the_system_keeps_going() -> None:
    clock = SimulatedClock(T0)
    system = make_system(clock)
    failures: list[StrategyFailed] = []
    system.bus.subscribe(strategy_topics.ALL_STRATEGY_EVENTS, failures.append)
    runner = StrategyRunner(system)
    boom, counter = Boom(), Counter()
    runner.add("boom", boom, ["BTC/USDT"])
    runner.add("count", counter, ["BTC/USDT"])
    runner.add("sma", SmaCross({"fast": 5, "slow": 20, "quantity": "0.01"}), ["BTC/USDT"])
    for strategy_id in ("boom", "count", "sma"):
        runner.start(strategy_id)
    bars = sample_bars(system, 300)

    feed(system, clock, bars)  # raises nowhere

    views = {v.strategy_id: v for v in runner.status()}
    assert views["boom"].status is StrategyStatus.FAILED
    assert views["boom"].error == "RuntimeError: boom at bar 5"
    assert boom.bars == 5
    assert [(f.strategy_id, f.hook, f.error, f.cancelled_orders) for f in failures] == [
        ("boom", "on_bar", "RuntimeError: boom at bar 5", 1)
    ]
    boom_order = system.oms.get(system.cache.order_id_for("main", "boom-1") or "")
    assert boom_order is not None and boom_order.status is OrderStatus.CANCELLED
    assert boom_order.price == (Decimal(repr(float(bars[0].close) * 0.9))).quantize(Decimal("0.01"))
    assert views["count"].status is StrategyStatus.RUNNING and counter.state["bars"] == 300
    assert views["sma"].status is StrategyStatus.RUNNING and views["sma"].fills > 0
    assert system.portfolio.last_price("BTC/USDT") == bars[-1].close
    (count_order,) = counter.ctx.working_orders()
    assert count_order.client_order_id == "count-1" and count_order.status is OrderStatus.OPEN


def test_a_failure_in_on_timer_is_isolated_and_timers_reach_running_strategies() -> None:
    clock = SimulatedClock(T0)
    system = make_system(clock)
    runner = StrategyRunner(system)
    recorder = Recorder()
    runner.add("timer-boom", Boom({"in_hook": "on_timer"}), ["BTC/USDT"])
    runner.add("rec", recorder, ["BTC/USDT"])
    runner.start("timer-boom")
    runner.start("rec")
    runner.on_timer(T0 + 1_000)
    runner.on_timer()
    assert recorder.timers == [T0 + 1_000, T0]
    (failed,) = runner.status("timer-boom")
    assert failed.status is StrategyStatus.FAILED and failed.error == "ZeroDivisionError: timer boom"
    assert runner.stop("rec") is StrategyStatus.STOPPED
    runner.on_timer()
    assert len(recorder.timers) == 2


def _bracket_system() -> tuple[SimulatedClock, TradingSystem, StrategyRunner, Recorder]:
    clock = SimulatedClock(T0)
    # Each exit reserves its own base quantity on the paper venue, so the account holds BTC too.
    system = make_system(clock, USDT="100000", BTC="1")
    runner = StrategyRunner(system)
    recorder = Recorder()
    runner.add("br", recorder, ["BTC/USDT"])
    runner.start("br")
    feed(system, clock, [bar(T0, "84000", "84000", "84000", "84000")])
    return clock, system, runner, recorder


def test_a_bracket_take_profit_fill_cancels_the_stop_loss() -> None:
    clock, system, runner, recorder = _bracket_system()
    bracket_id = recorder.ctx.bracket("BTC/USDT", "buy", "0.1", stop_loss="83000", take_profit="85000")
    bracket = runner.emulator("br").bracket(bracket_id)
    assert bracket is not None and bracket.exits_placed
    exits = {o.type: o for o in recorder.ctx.working_orders()}
    assert exits[OrderType.LIMIT].price == Decimal("85000") and exits[OrderType.LIMIT].side is OrderSide.SELL
    assert exits[OrderType.STOP].stop_price == Decimal("83000")
    assert [(f.side, f.price) for f in recorder.fills] == [(OrderSide.BUY, Decimal("84000"))]

    feed(system, clock, [bar(T0 + 60_000, "84500", "85100", "84400", "85050")])

    assert [(f.side, f.price) for f in recorder.fills][1:] == [(OrderSide.SELL, Decimal("85000"))]
    stop = recorder.ctx.order(exits[OrderType.STOP].id)
    assert stop is not None and stop.status is OrderStatus.CANCELLED
    assert bracket.done and recorder.ctx.working_orders() == []
    assert runner.status("br")[0].realized_pnl == Decimal("100.000")  # (85000 - 84000) * 0.1


def test_a_bracket_stop_loss_fill_cancels_the_take_profit() -> None:
    clock, system, runner, recorder = _bracket_system()
    recorder.ctx.bracket("BTC/USDT", OrderSide.BUY, Decimal("0.1"), Decimal("83000"), Decimal("85000"))
    exits = {o.type: o for o in recorder.ctx.working_orders()}
    feed(system, clock, [bar(T0 + 60_000, "83900", "84100", "82900", "83000")])
    assert [(f.side, f.price) for f in recorder.fills][1:] == [(OrderSide.SELL, Decimal("83000"))]
    take = recorder.ctx.order(exits[OrderType.LIMIT].id)
    assert take is not None and take.status is OrderStatus.CANCELLED
    assert recorder.ctx.working_orders() == []
    assert runner.status("br")[0].realized_pnl == Decimal("-100.000")


def test_a_trailing_stop_moves_up_with_the_closes_and_triggers() -> None:
    clock, system, runner, recorder = _bracket_system()
    trailing_id = recorder.ctx.trailing_stop("BTC/USDT", "sell", "0.1", trail="500")
    trailing = runner.emulator("br").trailing_stop(trailing_id)
    assert trailing is not None and trailing.stop_price == Decimal("83500")
    moves = [
        (bar(T0 + 60_000, "84000", "84250", "83950", "84200"), Decimal("83700")),
        (bar(T0 + 120_000, "84200", "84650", "84150", "84600"), Decimal("84100")),
        (bar(T0 + 180_000, "84600", "84700", "84300", "84400"), Decimal("84100")),  # never moves down
    ]
    for item, stop_price in moves:
        feed(system, clock, [item])
        (working,) = recorder.ctx.working_orders()
        assert working.type is OrderType.STOP and working.stop_price == stop_price
    assert trailing.moves == 2 and recorder.fills == []
    feed(system, clock, [bar(T0 + 240_000, "84400", "84450", "83900", "84000")])
    assert [(f.side, f.price, f.quantity) for f in recorder.fills] == [
        (OrderSide.SELL, Decimal("84100"), Decimal("0.1"))
    ]
    assert trailing.done and recorder.ctx.working_orders() == []


def test_a_percent_trailing_stop_for_a_short_rounds_away_from_the_market() -> None:
    _, _, runner, recorder = _bracket_system()
    trailing_id = recorder.ctx.trailing_stop("BTC/USDT", "buy", "0.1", trail_percent="0.333")
    trailing = runner.emulator("br").trailing_stop(trailing_id)
    assert trailing is not None and trailing.stop_price == Decimal("84279.72")  # 84000 * 1.00333 = 84279.72


def test_state_and_order_ids_survive_a_restart_on_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=sqlite_url, var_dir=tmp_path, feeds=(), starting_balances={"USDT": Decimal("100000")}
    )
    clock = SimulatedClock(T0)
    first = build(settings, Mode.SYNC, clock=clock)
    runner = StrategyRunner(first)
    runner.add("cnt", Counter(), ["BTC/USDT"])
    runner.start("cnt")
    bars = sample_bars(first, 5)
    feed(first, clock, bars[:3])
    first.close()
    with first.uow_factory() as uow:
        stored = uow.settings.get("strategy.state.cnt")
    assert stored is not None and '"bars": 3' in stored and '"sequence": 1' in stored

    second = build(settings, Mode.SYNC, clock=clock)
    runner = StrategyRunner(second)
    counter = Counter()
    runner.add("cnt", counter, ["BTC/USDT"])
    runner.start("cnt")
    assert counter.state == {"bars": 3, "last_close": float(bars[2].close)}
    assert counter.ctx.sequence == 1
    (order,) = counter.ctx.working_orders()  # the order placed before the restart, reloaded
    assert order.client_order_id == "cnt-1"
    feed(second, clock, bars[3:])
    assert counter.state["bars"] == 5
    follow_up = counter.ctx.limit("BTC/USDT", "buy", "0.01", "80000")
    assert follow_up.client_order_id == "cnt-2" and follow_up.status is OrderStatus.OPEN
    second.close()
