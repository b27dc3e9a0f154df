"""Built-in `breakout`: long-only Donchian or Bollinger channel breakout, optional ATR trailing stop."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderType
from tradeforge.domain.values import round_to_step
from tradeforge.indicators import ATR, Bollinger, Donchian
from tradeforge.strategies.base import BarView
from tradeforge.strategies.builtin.common import (
    Change,
    TrackingStrategy,
    check_int,
    check_number,
    fail,
    optional_float,
)

CHANNELS = ("donchian", "bollinger")


@dataclass(frozen=True, slots=True)
class BreakoutConfig:
    channel: str = "donchian"
    entry_period: int = 20
    exit_period: int = 10
    k: float = 2.0  # Bollinger width in standard deviations (channel = bollinger only)
    quantity: Decimal = Decimal("0.01")
    atr_period: int = 14
    atr_multiplier: float | None = None  # None: no trailing stop

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise fail("channel", f"must be one of {list(CHANNELS)}, got {self.channel!r}")
        check_int("entry_period", self.entry_period, minimum=2 if self.channel == "bollinger" else 1)
        check_int("exit_period", self.exit_period)
        check_number("k", self.k)
        check_number("quantity", self.quantity)
        check_int("atr_period", self.atr_period)
        multiplier = optional_float(self, "atr_multiplier")
        if multiplier is not None:
            check_number("atr_multiplier", multiplier)


class _Channels:
    """One symbol's indicators. `update` returns the entry band and the exit low of the bars before
    this one (a close can only break a channel it is not part of), then takes this bar in."""

    __slots__ = ("atr", "entry", "exit")

    def __init__(self, config: BreakoutConfig) -> None:
        self.entry: Donchian | Bollinger = (
            Donchian(config.entry_period)
            if config.channel == "donchian"
            else Bollinger(config.entry_period, config.k)
        )
        self.exit = Donchian(config.exit_period)
        self.atr = ATR(config.atr_period)

    def update(self, bar: BarView) -> tuple[float | None, float | None]:
        upper = None if self.entry.value is None else self.entry.value[0]
        lower = self.exit.lower
        if isinstance(self.entry, Donchian):
            self.entry.update(bar.high, bar.low)
        else:
            self.entry.update(bar.close)
        self.exit.update(bar.high, bar.low)
        self.atr.update(bar.high, bar.low, bar.close)
        return upper, lower


class Breakout(TrackingStrategy[BreakoutConfig]):
    """Buys `quantity` at market when the close breaks above the entry channel of the previous
    `entry_period` bars (Donchian: their highest high; Bollinger: the upper band of their closes)
    while it holds nothing and has no entry working. Sells its whole holding at market when the
    close breaks below the lowest low of the previous `exit_period` bars. With `atr_multiplier`, a
    trailing sell stop (ctx.trailing_stop) follows the closes at `atr_multiplier` x ATR (taken on
    the signal bar) once the entry has filled; a channel exit cancels it first. It trades only its
    own holding."""

    name = "breakout"
    description = "Long-only Donchian/Bollinger breakout, Donchian exit, optional ATR trailing stop"
    config_class = BreakoutConfig

    def on_start(self) -> None:
        self._channels: dict[str, _Channels] = {}
        self._resumed: list[Change] = []
        super().on_start()

    def resume(self, changes: list[Change]) -> None:
        # An entry filled while stopped gets its trailing stop at its symbol's next bar: a trailing
        # stop needs a price to trail from, which a restarted system may not have yet.
        self._resumed = changes

    def on_settled_bar(self, bar: BarView) -> None:
        symbol = bar.symbol
        if self._resumed:
            self.react([change for change in self._resumed if change.symbol == symbol])
            self._resumed = [change for change in self._resumed if change.symbol != symbol]
        channels = self._channels.get(symbol)
        if channels is None:
            channels = self._channels[symbol] = _Channels(self.config)
        upper, lower = channels.update(bar)
        held = self.held(symbol)
        working = [item.order for item in self.own.working(symbol)]
        if held > 0:
            exiting = any(o.side is OrderSide.SELL and o.type is OrderType.MARKET for o in working)
            if lower is not None and bar.close < lower and not exiting:
                self.ctx.cancel_all(symbol)  # the trailing stop, which also holds the base reserved
                self.own.track(self.ctx.market(symbol, OrderSide.SELL, held), {"role": "exit"})
        elif upper is not None and bar.close > upper and not any(o.side is OrderSide.BUY for o in working):
            tag: dict[str, str] = {"role": "entry"}
            atr = channels.atr.value
            if self.config.atr_multiplier is not None and atr is not None:
                tick = self.ctx.instrument(symbol).tick_size
                trail = round_to_step(Decimal(repr(self.config.atr_multiplier * atr)), tick)
                tag["trail"] = str(max(trail, tick))
            order = self.ctx.market(symbol, OrderSide.BUY, self.config.quantity)
            self.own.track(order, tag)

    def react(self, changes: list[Change]) -> None:
        for change in changes:
            trail = change.tag.get("trail")
            if change.tag.get("role") != "entry" or not change.done or trail is None:
                continue
            held = self.held(change.symbol)
            if held > 0:
                self.ctx.trailing_stop(change.symbol, OrderSide.SELL, held, trail=Decimal(trail))
