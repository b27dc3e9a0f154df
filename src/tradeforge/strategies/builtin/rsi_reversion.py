"""Built-in `rsi_reversion`: long-only RSI mean reversion, optionally with a stop-loss/take-profit bracket."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderType
from tradeforge.indicators import RSI
from tradeforge.strategies.base import BarView
from tradeforge.strategies.builtin.common import (
    TrackingStrategy,
    check_int,
    check_number,
    fail,
    optional_float,
)


@dataclass(frozen=True, slots=True)
class RsiReversionConfig:
    period: int = 14
    oversold: float = 30.0
    overbought: float = 70.0
    exit_level: float | None = None  # None: exit at overbought
    quantity: Decimal = Decimal("0.01")
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None

    def __post_init__(self) -> None:
        check_int("period", self.period, minimum=2)
        check_number("oversold", self.oversold, 0.0, 100.0)
        check_number("overbought", self.overbought, 0.0, 100.0)
        if self.oversold >= self.overbought:
            raise fail("oversold", f"must be below overbought ({self.overbought}), got {self.oversold}")
        exit_level = optional_float(self, "exit_level")
        if exit_level is not None:
            check_number("exit_level", exit_level, self.oversold, 100.0)
        check_number("quantity", self.quantity)
        stop = optional_float(self, "stop_loss_pct")
        take = optional_float(self, "take_profit_pct")
        if (stop is None) != (take is None):
            missing = "take_profit_pct" if take is None else "stop_loss_pct"
            raise fail(missing, "a bracket needs stop_loss_pct and take_profit_pct: give both or neither")
        if stop is not None:
            check_number("stop_loss_pct", stop, 0.0, 100.0)
        if take is not None:
            check_number("take_profit_pct", take)

    @property
    def exit(self) -> float:
        return self.overbought if self.exit_level is None else self.exit_level

    @property
    def bracketed(self) -> bool:
        return self.stop_loss_pct is not None and self.take_profit_pct is not None


class RsiReversion(TrackingStrategy[RsiReversionConfig]):
    """Buys `quantity` at market when Wilder's RSI of closes crosses below `oversold` (the previous
    bar's RSI at or above it, this bar's below) while it holds nothing and has no entry working;
    sells its whole holding at market when the RSI crosses above `exit_level` (default
    `overbought`). With `stop_loss_pct` and `take_profit_pct` the entry is a bracket (ctx.bracket):
    once it fills, a stop-loss stop and a take-profit limit, priced from the signal bar's close,
    form an OCO pair; an RSI exit first cancels them. It trades only its own holding."""

    name = "rsi_reversion"
    description = "Long-only RSI mean reversion: buy a cross below oversold, sell a cross above the exit"
    config_class = RsiReversionConfig

    def on_start(self) -> None:
        self._rsi: dict[str, RSI] = {}
        super().on_start()

    def on_settled_bar(self, bar: BarView) -> None:
        symbol = bar.symbol
        rsi = self._rsi.get(symbol)
        if rsi is None:
            rsi = self._rsi[symbol] = RSI(self.config.period)
        previous = rsi.value
        current = rsi.update(bar.close)
        if previous is None or current is None:
            return
        config = self.config
        held = self.held(symbol)
        working = [item.order for item in self.own.working(symbol)]
        if held > 0:
            exiting = any(o.side is OrderSide.SELL and o.type is OrderType.MARKET for o in working)
            if previous <= config.exit < current and not exiting:
                self.ctx.cancel_all(symbol)  # the bracket's exits, which also hold the base reserved
                self.own.track(self.ctx.market(symbol, OrderSide.SELL, held), {"role": "exit"})
        elif previous >= config.oversold > current and not any(o.side is OrderSide.BUY for o in working):
            if config.stop_loss_pct is not None and config.take_profit_pct is not None:
                self.ctx.bracket(
                    symbol,
                    OrderSide.BUY,
                    config.quantity,
                    stop_loss=bar.close * (1 - config.stop_loss_pct / 100),
                    take_profit=bar.close * (1 + config.take_profit_pct / 100),
                )
            else:
                self.own.track(self.ctx.market(symbol, OrderSide.BUY, config.quantity), {"role": "entry"})
