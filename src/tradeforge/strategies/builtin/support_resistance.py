"""Built-in `support_resistance`: levels from confirmed swing points; trades bounces and breaks of them."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderStatus
from tradeforge.strategies.base import BarView
from tradeforge.strategies.builtin.common import (
    Change,
    TrackingStrategy,
    check_int,
    check_number,
    fail,
)
from tradeforge.strategies.context import to_price

ENTRY_ROLES = ("bounce", "break")
EXIT_ROLES = ("stop", "target")


@dataclass(frozen=True, slots=True)
class SupportResistanceConfig:
    swing: int = 5
    tolerance_pct: float = 0.1
    max_levels: int = 10
    min_touches: int = 1
    quantity: Decimal = Decimal("0.01")
    stop_pct: float = 0.2
    break_pct: float = 0.05
    target_pct: float = 0.5
    bounce: bool = True
    breaks: bool = True

    def __post_init__(self) -> None:
        check_int("swing", self.swing)
        check_number("tolerance_pct", self.tolerance_pct, 0.0, 100.0)
        check_int("max_levels", self.max_levels)
        check_int("min_touches", self.min_touches)
        check_number("quantity", self.quantity)
        check_number("stop_pct", self.stop_pct, 0.0, 100.0)
        check_number("break_pct", self.break_pct, or_equal=True)  # 0: the buy stop sits on the level
        check_number("target_pct", self.target_pct, self.break_pct)
        if not (self.bounce or self.breaks):
            raise fail("bounce", "bounce and breaks are both off: the strategy would never trade")


@dataclass(slots=True)
class Level:
    price: float  # mean of the swing prices merged into it
    touches: int  # how many swing points it holds
    last: int  # bar number of the latest swing point merged into it


class SwingLevels:
    """Price levels from swing points, without lookahead.

    Bar i is a swing high when its high is above the highs of the `swing` bars before it and not
    below those of the `swing` bars after it (the first bar of an equal-high plateau counts); a swing
    low mirrors this. Bar i is only known to be one once bar i + swing has closed, so that is when
    its price joins the levels: merged into the nearest level within `tolerance_pct` % of that
    level's price (the level moves to the mean of its points), or added as a new level. Only the
    `max_levels` levels touched most recently are kept. Each bar's high is tried before its low."""

    def __init__(self, swing: int, tolerance_pct: float, max_levels: int) -> None:
        self.swing = swing
        self.tolerance = tolerance_pct / 100
        self.max_levels = max_levels
        self.levels: list[Level] = []
        self._highs: deque[float] = deque(maxlen=2 * swing + 1)
        self._lows: deque[float] = deque(maxlen=2 * swing + 1)
        self._count = 0

    def update(self, high: float, low: float) -> None:
        self._highs.append(high)
        self._lows.append(low)
        self._count += 1
        if len(self._highs) < 2 * self.swing + 1:
            return
        s = self.swing
        highs, lows = list(self._highs), list(self._lows)
        bar_number = self._count - 1 - s
        if highs[s] > max(highs[:s]) and highs[s] >= max(highs[s + 1 :]):
            self._add(highs[s], bar_number)
        if lows[s] < min(lows[:s]) and lows[s] <= min(lows[s + 1 :]):
            self._add(lows[s], bar_number)

    def _add(self, price: float, bar_number: int) -> None:
        near = [level for level in self.levels if abs(price - level.price) <= level.price * self.tolerance]
        if near:
            level = min(near, key=lambda item: abs(price - item.price))
            level.price = (level.price * level.touches + price) / (level.touches + 1)
            level.touches += 1
            level.last = bar_number
            return
        self.levels.append(Level(price, 1, bar_number))
        if len(self.levels) > self.max_levels:
            self.levels.remove(min(self.levels, key=lambda item: item.last))

    def below(self, price: float, min_touches: int = 1) -> float | None:
        """The highest level strictly below price (support)."""
        prices = [lv.price for lv in self.levels if lv.price < price and lv.touches >= min_touches]
        return max(prices) if prices else None

    def above(self, price: float, min_touches: int = 1) -> float | None:
        """The lowest level strictly above price (resistance)."""
        prices = [lv.price for lv in self.levels if lv.price > price and lv.touches >= min_touches]
        return min(prices) if prices else None


class SupportResistance(TrackingStrategy[SupportResistanceConfig]):
    """While it holds nothing, keeps up to two entry orders for `quantity`, re-priced after each bar
    from the levels and the close (support S: the highest level below the close, resistance R: the
    lowest above; both with at least `min_touches` points):

    - bounce (`bounce`, needs S and R): a buy limit at S; exits: take profit at R, stop loss
      `stop_pct` % below S.
    - break (`breaks`, needs R): a buy stop `break_pct` % above R; exits: take profit at the next
      level above that stop price (else `target_pct` % above R), stop loss `stop_pct` % below R.

    When an entry fills, the other one is cancelled and the exits taken from the filled entry (as
    priced at the last bar before the fill) are placed for its whole holding: a sell stop (stop
    loss) and a sell limit (take profit); when one of them fills, the other is cancelled. It trades
    only its own holding; its open trade lives in its state and its exits are placed again after a
    restart. Levels are rebuilt from the bars after a restart."""

    name = "support_resistance"
    description = "Swing-point support/resistance levels: buy limits at support, buy stops above resistance"
    config_class = SupportResistanceConfig

    def on_start(self) -> None:
        self._levels: dict[str, SwingLevels] = {}
        super().on_start()

    def levels(self, symbol: str) -> SwingLevels:
        levels = self._levels.get(symbol)
        if levels is None:
            config = self.config
            levels = self._levels[symbol] = SwingLevels(config.swing, config.tolerance_pct, config.max_levels)
        return levels

    def on_settled_bar(self, bar: BarView) -> None:
        # Every fill of its orders the OMS has, this bar's and those of the exits placed on them,
        # has been heard (react) by now: the holding and the exits are up to date.
        self.levels(bar.symbol).update(bar.high, bar.low)
        self._settle(bar.symbol)
        if self.held(bar.symbol) <= 0:
            self._enter(bar.symbol, bar.close)

    def react(self, changes: list[Change]) -> None:
        """A fill or an end heard: exits follow the holding at once (an exit placed here that fills
        on the spot is heard as its own event, and settled in turn). A refused order is not placed
        again before the next bar: the same order would be refused again at once (an account without
        spare base refuses the second exit), round after round."""
        self._record(changes)
        settle = [change.symbol for change in changes if change.status is not OrderStatus.REJECTED]
        for symbol in dict.fromkeys(settle):
            self._settle(symbol)

    def _record(self, changes: list[Change]) -> None:
        """An entry that filled opens the trade its tag priced. When one wide bar fills both entries,
        the break's exits (its stop is the higher one) cover the double holding."""
        for change in changes:
            role = change.tag.get("role")
            if role not in ENTRY_ROLES or change.filled <= 0:
                continue
            current = self._trades.get(change.symbol)
            if current is None or role == "break":
                trade = {"role": role, "stop": change.tag["stop"], "target": change.tag["target"]}
                self._trades[change.symbol] = trade

    def _settle(self, symbol: str) -> None:
        """Exits that match the holding (none when flat)."""
        if self.held(symbol) > 0:
            self._protect(symbol)
        else:
            self._flat(symbol)

    @property
    def _trades(self) -> dict[str, dict[str, str]]:
        trades: dict[str, dict[str, str]] = self.state.setdefault("trades", {})
        return trades

    # --- holding: exits ------------------------------------------------------------------------
    def _protect(self, symbol: str) -> None:
        """Holding: no entry works any more, and the stop loss and take profit cover the holding."""
        held = self.held(symbol)
        trade = self._trades.get(symbol)
        working = self.own.working(symbol)
        for item in working:
            if item.tag.get("role") in ENTRY_ROLES:
                self.own.cancel(item.order.id)
        if trade is None:  # a holding without a trade (cannot happen unless state was edited)
            return
        for role in EXIT_ROLES:
            mine = [item for item in working if item.tag.get("role") == role]
            if len(mine) == 1 and mine[0].rest == held:
                continue
            for item in mine:
                self.own.cancel(item.order.id)
            if role == "stop":
                order = self.ctx.stop(symbol, OrderSide.SELL, held, Decimal(trade["stop"]))
            else:
                order = self.ctx.limit(symbol, OrderSide.SELL, held, Decimal(trade["target"]))
            self.own.track(order, {"role": role})

    def _flat(self, symbol: str) -> None:
        """Flat: a trade's leftover exit (its sibling filled) is cancelled and the trade forgotten."""
        self._trades.pop(symbol, None)
        for item in self.own.working(symbol):
            if item.tag.get("role") in EXIT_ROLES:
                self.own.cancel(item.order.id)

    # --- flat: entries -------------------------------------------------------------------------
    def desired_entries(self, symbol: str, close: float) -> dict[str, dict[str, Any]]:
        """The entry orders the rule wants after this bar: role -> price (or stop price), stop, target."""
        config = self.config
        instrument = self.ctx.instrument(symbol)
        levels = self.levels(symbol)
        support = levels.below(close, config.min_touches)
        resistance = levels.above(close, config.min_touches)
        wanted: dict[str, dict[str, Any]] = {}
        if config.bounce and support is not None and resistance is not None:
            wanted["bounce"] = {
                "price": to_price(instrument, support),
                "stop": to_price(instrument, support * (1 - config.stop_pct / 100)),
                "target": to_price(instrument, resistance),
            }
        if config.breaks and resistance is not None:
            entry = resistance * (1 + config.break_pct / 100)
            beyond = levels.above(entry, config.min_touches)
            target = beyond if beyond is not None else resistance * (1 + config.target_pct / 100)
            wanted["break"] = {
                "price": to_price(instrument, entry),
                "stop": to_price(instrument, resistance * (1 - config.stop_pct / 100)),
                "target": to_price(instrument, target),
            }
        return {role: order for role, order in wanted.items() if order["target"] > order["price"]}

    def _enter(self, symbol: str, close: float) -> None:
        wanted = self.desired_entries(symbol, close)
        working = self.own.working(symbol)
        for role in ENTRY_ROLES:
            want = wanted.get(role)
            kept = False
            for item in working:
                if item.tag.get("role") != role:
                    continue
                view = item.order
                price = view.price if role == "bounce" else view.stop_price
                if want is not None and not kept and price == want["price"]:
                    kept = True
                    self.own.retag(view.id, self._tag(role, want))
                else:
                    self.own.cancel(view.id)
            if want is None or kept:
                continue
            quantity = self.config.quantity
            if role == "bounce":
                order = self.ctx.limit(symbol, OrderSide.BUY, quantity, want["price"])
            else:
                order = self.ctx.stop(symbol, OrderSide.BUY, quantity, want["price"])
            self.own.track(order, self._tag(role, want))

    @staticmethod
    def _tag(role: str, want: dict[str, Any]) -> dict[str, str]:
        return {"role": role, "stop": str(want["stop"]), "target": str(want["target"])}
