"""Built-in `sma_cross`: long-only fast/slow simple moving average crossover on exact integer ticks."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradeforge.domain.fills import Fill, OrderSide
from tradeforge.indicators import ExactSMACross
from tradeforge.strategies.base import BarView, Strategy


@dataclass(frozen=True, slots=True)
class SmaCrossConfig:
    fast: int = 10
    slow: int = 30
    quantity: Decimal = Decimal("1")


class SmaCross(Strategy[SmaCrossConfig]):
    """Buys `quantity` at market when the fast SMA of closes crosses above the slow one while flat,
    sells what it bought at market when it crosses below. It trades only its own holding (counted
    from its own fills, kept in its saved state), never what other strategies or manual orders hold
    in the same account. Crosses are decided on integer ticks
    (ExactSMACross with the instrument's price decimals), so they match the vectorized indicator."""

    name = "sma_cross"
    description = "Long-only SMA crossover: buy on a cross up when flat, sell the position on a cross down"
    config_class = SmaCrossConfig

    def on_start(self) -> None:
        # Per symbol: the crossover, counting prices in integer ticks of the instrument.
        self._crosses: dict[str, ExactSMACross] = {}
        # What this strategy holds per symbol, as Decimal: the saved state keeps it as text, and
        # parsing that on every bar that signals would cost more than the signal itself.
        self._holding: dict[str, Decimal] = {}

    def on_bar(self, bar: BarView) -> None:
        cross = self._crosses.get(bar.symbol)
        if cross is None:
            cross = self._cross_for(bar.symbol)
        signal = cross.update_float(bar.close)
        if signal == 0:
            return
        held = self._held(bar.symbol)
        if signal > 0 and held == 0:
            self.ctx.market(bar.symbol, OrderSide.BUY, self.config.quantity)
        elif signal < 0 and held > 0:
            self.ctx.market(bar.symbol, OrderSide.SELL, held)

    def on_fill(self, fill: Fill) -> None:
        delta = fill.quantity if fill.side is OrderSide.BUY else -fill.quantity
        held = self._holding[fill.symbol] = self._held(fill.symbol) + delta
        self.state[f"held:{fill.symbol}"] = str(held)

    def _cross_for(self, symbol: str) -> ExactSMACross:
        tick = self.ctx.instrument(symbol).tick_size
        decimals = max(0, -int(tick.normalize().as_tuple().exponent))
        cross = self._crosses[symbol] = ExactSMACross(self.config.fast, self.config.slow, decimals)
        return cross

    def _held(self, symbol: str) -> Decimal:
        held = self._holding.get(symbol)
        if held is None:  # first asked since start: from the state restored across a restart
            held = self._holding[symbol] = Decimal(str(self.state.get(f"held:{symbol}", "0")))
        return held
