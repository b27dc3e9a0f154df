"""Built-in `grid`: long-only spot limit-order grid around a reference; bounded inventory, restart-safe."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradeforge.domain.fills import OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import OrderStatus
from tradeforge.domain.values import ZERO, floor_to_step, round_to_step
from tradeforge.strategies.base import BarView
from tradeforge.strategies.builtin.common import Change, TrackingStrategy, check_int, check_number, fail

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class GridConfig:
    levels: int = 5
    spacing_pct: Decimal = Decimal("0.2")
    quantity: Decimal = Decimal("0.001")
    max_inventory: Decimal = Decimal("0.005")
    recenter: bool = True

    def __post_init__(self) -> None:
        check_int("levels", self.levels, maximum=50)
        check_number("spacing_pct", self.spacing_pct)
        if self.levels * self.spacing_pct >= HUNDRED:
            raise fail("spacing_pct", f"levels x spacing_pct must stay below 100 %, got {self.spacing_pct}")
        check_number("quantity", self.quantity)
        check_number("max_inventory", self.max_inventory)
        if self.max_inventory < self.quantity:
            raise fail("max_inventory", f"must be >= quantity ({self.quantity}), got {self.max_inventory}")


def level_price(instrument: Instrument, reference: Decimal, spacing_pct: Decimal, level: int) -> Decimal:
    """Level k of the grid: reference x (1 + k x spacing_pct %), rounded half-even to the tick."""
    return round_to_step(reference * (1 + level * spacing_pct / HUNDRED), instrument.tick_size)


class Grid(TrackingStrategy[GridConfig]):
    """A grid around a reference price (the first close, later the close that re-centred it).
    Level k sits at reference x (1 + k x `spacing_pct` %), k from -`levels` to +`levels`.

    Centring posts buy limits of `quantity` at levels -1, -2, ... -`levels` as long as its holding
    plus all its working buys plus the new one stays within `max_inventory`, and sell limits for
    what it holds at levels 1, 2, ... (`quantity` each, the rest on the top level). When a buy at
    level k has filled, a sell of the filled quantity goes to level k + 1; when a sell at level k has
    filled, a buy goes to level k - 1 (within `max_inventory`). Spot and long-only: it only sells
    what it bought (its own holding), so with nothing held only the buys are posted at first.

    With `recenter` (default), a close beyond the outermost level (above +levels or below -levels)
    cancels all its orders and centres the grid again on that close.

    Both bounds count what it has not heard yet (OwnOrders.outstanding): a buy goes out only while
    holding + all its buys could still add + it stays within max_inventory, a sell only for holding
    that none of its sells could still take. So holding that a sell already took (an answer that
    filled at once, its events still on their way) is never offered twice, whatever order its
    events come in. A bar is decided once those events are heard (TrackingStrategy), so a
    re-centring answers them first.

    The reference and every order's level are kept in the strategy's state with the order ids, so a
    restart continues the same grid: orders still working are kept, fills that happened while it
    was stopped get their counter-orders, and orders cancelled by the stop are placed again at the
    same levels; nothing is placed twice."""

    name = "grid"
    description = "Long-only spot grid: buy limits below, sell limits above, bounded inventory, re-centring"
    config_class = GridConfig

    def resume(self, changes: list[Change]) -> None:
        # Continue the grid of the saved state: answer what filled while stopped, place again what
        # the stop cancelled, and cancel any working order of ours the state does not know.
        self.react(changes, restore=True)
        tracked = set(self.own.tracked())
        for view in self.ctx.working_orders():
            if view.id not in tracked:
                self.ctx.cancel(view.id)

    @property
    def _grids(self) -> dict[str, dict[str, Any]]:
        grids: dict[str, dict[str, Any]] = self.state.setdefault("grids", {})
        return grids

    def reference(self, symbol: str) -> Decimal | None:
        grid = self._grids.get(symbol)
        return None if grid is None else Decimal(grid["reference"])

    def on_settled_bar(self, bar: BarView) -> None:
        symbol = bar.symbol
        reference = self.reference(symbol)
        close = round_to_step(Decimal(repr(bar.close)), self.ctx.instrument(symbol).tick_size)
        if reference is None:
            self._centre(symbol, close)
            return
        if not self.config.recenter:
            return
        instrument = self.ctx.instrument(symbol)
        top = level_price(instrument, reference, self.config.spacing_pct, self.config.levels)
        bottom = level_price(instrument, reference, self.config.spacing_pct, -self.config.levels)
        if close > top or close < bottom:
            self._centre(symbol, close)

    def react(self, changes: list[Change], restore: bool = False) -> None:
        for change in changes:
            level = change.tag.get("level")
            if level is None or not change.done:
                continue
            if self.reference(change.symbol) is None:
                continue
            if change.total > 0:
                step = 1 if change.side is OrderSide.BUY else -1
                self._post(change.symbol, change.side.opposite, int(level) + step, change.total)
            if restore and change.status is OrderStatus.CANCELLED and change.rest > 0:
                self._post(change.symbol, change.side, int(level), change.rest)  # cancelled by the stop

    # --- placing -------------------------------------------------------------------------------
    def _centre(self, symbol: str, reference: Decimal) -> None:
        for item in self.own.working(symbol):
            self.own.retag(item.order.id, {})  # the old grid's: its end is not answered
            self.own.cancel(item.order.id)
        self._grids[symbol] = {"reference": str(reference)}
        config = self.config
        for level in range(-1, -config.levels - 1, -1):
            if not self._post(symbol, OrderSide.BUY, level, config.quantity):
                break
        lot = self.ctx.instrument(symbol).lot_size
        left = self.held(symbol)
        for level in range(1, config.levels + 1):
            quantity = left if level == config.levels else min(left, config.quantity)
            quantity = floor_to_step(quantity, lot)
            if quantity <= ZERO:
                break
            self._post(symbol, OrderSide.SELL, level, quantity)
            left -= quantity

    def _post(self, symbol: str, side: OrderSide, level: int, quantity: Decimal) -> bool:
        """Place one grid order within the bounds, whatever of its orders it has not heard yet: a buy
        only while holding + everything its buys can still add + it stays within max_inventory; a
        sell only for holding not already offered (what its sells can still take), cut to that."""
        config = self.config
        own = self.own
        if side is OrderSide.BUY:
            if self.held(symbol) + own.outstanding(symbol, OrderSide.BUY) + quantity > config.max_inventory:
                return False
        else:
            free = self.held(symbol) - own.outstanding(symbol, OrderSide.SELL)
            quantity = floor_to_step(min(quantity, free), self.ctx.instrument(symbol).lot_size)
            if quantity <= ZERO:
                return False
        reference = self.reference(symbol)
        assert reference is not None
        price = level_price(self.ctx.instrument(symbol), reference, config.spacing_pct, level)
        order = self.ctx.limit(symbol, side, quantity, price)
        own.track(order, {"level": level})
        return True
