"""The backtester over real trade prints (shared/data ticks): on_tick strategies, fills at the next
print, resting limits filled by a print through them, files of both sample formats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from tradeforge.backtest.config import BacktestConfig
from tradeforge.backtest.engine import run_backtest
from tradeforge.backtest.ticks import TickColumns
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.fills import OrderSide
from tradeforge.strategies.base import Strategy, TickView

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ticks"
NAUTILUS = SHARED / "nautilus_binance_btcusdt" / "btcusdt-trades.parquet"
TARDIS = SHARED / "tardis_binance_futures_btcusdt" / "trades.csv"


def need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"shared tick sample not present: {path}")


def money(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class FlipConfig:
    every: int = 50
    quantity: Decimal = Decimal("0.01")


class TickFlipper(Strategy[FlipConfig]):
    """Buys on every `every`-th print and sells the next time: many market orders between prints."""

    name = "tick_flipper"
    config_class = FlipConfig

    def on_start(self) -> None:
        self.state["seen"] = 0
        self.state["long"] = False

    def on_tick(self, tick: TickView) -> None:
        self.state["seen"] += 1
        if self.state["seen"] % self.config.every:
            return
        side = "sell" if self.state["long"] else "buy"
        self.ctx.market(tick.symbol, side, self.config.quantity)
        self.state["long"] = not self.state["long"]


def test_market_orders_between_prints_fill_at_the_next_print(tmp_path: Path) -> None:
    need(NAUTILUS)
    ticks = TickColumns.from_file(NAUTILUS, "BTC/USDT")
    assert len(ticks) == 2001
    run = run_backtest(BacktestConfig(cash=Decimal("100000")), ticks, strategy=TickFlipper())
    assert len(run.fills) == 2001 // 50
    prices = [money(p) for p in ticks.price.tolist()]
    times = ticks.ts.tolist()
    for number, fill in enumerate(run.fills, start=1):
        sent_after = number * 50 - 1  # index of the print the order was sent on
        assert fill.price == prices[sent_after + 1] and fill.ts == times[sent_after + 1]
        assert fill.side is (OrderSide.BUY if number % 2 else OrderSide.SELL)
    assert run.result.bars == 2001 and run.result.metrics.trade_count == len(run.fills) // 2
    paths = run.write_report(tmp_path)
    assert "<svg" in paths["report"].read_text()


@dataclass(frozen=True)
class DipConfig:
    below: Decimal = Decimal("5")


class RestingBid(Strategy[DipConfig]):
    """One buy limit `below` under the first print."""

    name = "resting_bid"
    config_class = DipConfig

    def on_start(self) -> None:
        self.state["limit"] = None

    def on_tick(self, tick: TickView) -> None:
        if self.state["limit"] is None:
            limit = money(tick.price) - self.config.below
            self.ctx.limit(tick.symbol, "buy", "0.01", limit)
            self.state["limit"] = str(limit)


def test_a_resting_limit_fills_at_its_price_on_the_first_print_through_it() -> None:
    need(TARDIS)
    ticks = TickColumns.from_file(TARDIS, "BTC/USDT")
    assert len(ticks) == 9999 and ticks.ts[0] == 1582329602111  # µs epochs read as ms
    run = run_backtest(BacktestConfig(cash=Decimal("100000")), ticks, strategy=RestingBid())
    limit = money(ticks.price[0]) - Decimal("5")
    prices = [money(p) for p in ticks.price.tolist()]
    through = next(i for i in range(1, len(prices)) if prices[i] < limit)
    assert len(run.fills) == 1
    fill = run.fills[0]
    # previous print at or above the limit, this one below: the maker fills at the limit
    assert fill.ts == int(ticks.ts[through]) and fill.price == min(prices[through - 1], limit)
    assert fill.liquidity.value == "maker"


def test_unordered_or_malformed_prints_are_refused_naming_the_column() -> None:
    with pytest.raises(ValidationError) as caught:
        TickColumns.from_arrays("BTC/USDT", [3, 2, 1], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert caught.value.field == "timestamp"
    with pytest.raises(ValidationError) as caught:
        TickColumns.from_arrays("BTC/USDT", [1, 2], [1.0, -1.0], [1.0, 1.0])
    assert caught.value.field == "price"
