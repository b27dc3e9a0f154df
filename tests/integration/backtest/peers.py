"""SMA-crossover runners for TradeForge's vectorized mode and the peers (backtrader, backtesting.py,
vectorbt), all returning the same comparable result; shared by the peer agreement test and
benchmarks/backtest_peers.py."""

# Every runner does the same thing its own idiomatic way: SMA(fast) and SMA(slow) of closes, long
# only, a fixed quantity bought at market on a cross above while flat and sold on a cross below,
# orders filled at the next bar's open, fee_rate x notional per side, no slippage, and an open
# position marked at the last close without an exit fee. Each peer computes its own (float) SMAs
# and crossovers; only the configuration is chosen to give those fill rules:
#
# backtrader   cheat-on-open off (the default): a market order placed in next() fills at the next
#              bar's open; setcommission(commission=fee_rate) is a percentage commission with
#              percabs=True (0.001 = 0.1 %) on stock-like assets; CrossOver remembers the last non-zero
#              difference, the same tie rule as ours. broker.getvalue() marks at the last close.
# backtesting  trade_on_close=False (next open), commission=fee_rate (charged at entry and at exit),
#              buy(size=1): a size >= 1 is a whole number of units (0 < size < 1 would be a fraction
#              of equity); finalize_trades=False keeps an open trade open, and "Equity Final" marks it
#              at the last close without an exit commission (finalize_trades=True would sell it at the
#              last bar's open and charge the fee). lib.crossover needs a strict below-then-above on
#              two consecutive bars, so it misses a cross through a tie its floats see as exact.
# vectorbt     Portfolio.from_signals executes on the signal's own bar, so the MA crossed_above /
#              crossed_below signals are shifted one bar later and filled at price=open, valued at
#              close; size=1 (amount), fees=fee_rate, direction longonly, no accumulation.

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from tests.integration.backtest.peer_runs import PeerRun, Setup, Stopwatch, Trip

from tradeforge.backtest.vectorized import BarArrays, VectorizedConfig, run_sma_cross
from tradeforge.indicators import to_ticks

ROOT = Path(__file__).resolve().parents[3]
BTC_YEAR = ROOT.parent / "shared" / "data" / "binance_spot_1m" / "BTCUSDT_1m_2025.parquet"
ETH_YEAR = ROOT.parent / "shared" / "data" / "binance_spot_1m" / "ETHUSDT_1m_2025.parquet"


@dataclass(frozen=True, slots=True)
class Market:
    """The same bars for every runner: our arrays and a pandas frame (naive UTC index, which keeps
    vectorbt fast; a tz-aware index made it 2-3x slower)."""

    bars: BarArrays
    frame: pd.DataFrame


def load_market(path: Path, start: int = 0, stop: int | None = None) -> Market:
    table = pq.read_table(path, columns=["timestamp", "open", "high", "low", "close", "volume"])
    stop = table.num_rows if stop is None else min(stop, table.num_rows)
    table = table.slice(start, stop - start)
    ts = table.column("timestamp").to_numpy()
    frame = pd.DataFrame(
        {
            "Open": table.column("open").to_numpy(),
            "High": table.column("high").to_numpy(),
            "Low": table.column("low").to_numpy(),
            "Close": table.column("close").to_numpy(),
            "Volume": table.column("volume").to_numpy(),
        },
        index=pd.DatetimeIndex(ts.astype("datetime64[ms]"), name="time"),
    )
    bars = BarArrays(ts, frame["Open"].to_numpy(), frame["Close"].to_numpy())
    return Market(bars, frame)


def _money(value: float) -> Decimal:
    """A peer's float as the shortest decimal that round-trips (exact for prices from the file)."""
    return Decimal(repr(float(value)))


def _ms(moment: Any) -> int:
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(UTC)
    return int(stamp.value // 1_000_000)


def _pair(fills: list[tuple[int, bool, Decimal]]) -> tuple[list[Trip], tuple[int, Decimal] | None]:
    """Round trips from alternating buy / sell fills (ts, is_buy, price)."""
    trips: list[Trip] = []
    entry: tuple[int, Decimal] | None = None
    for ts, is_buy, price in fills:
        if is_buy:
            if entry is not None:
                raise AssertionError(f"a second buy at {ts} while long: pyramiding")
            entry = (ts, price)
        else:
            if entry is None:
                raise AssertionError(f"a sell at {ts} while flat")
            trips.append(Trip(entry[0], entry[1], ts, price))
            entry = None
    return trips, entry


# -- TradeForge ---------------------------------------------------------------------------------


def run_vectorized(market: Market, setup: Setup) -> PeerRun:
    config = VectorizedConfig(
        cash=setup.cash, quantity=Decimal(setup.quantity), fee_rate=setup.fee_rate, tick_size=Decimal("0.01")
    )
    with Stopwatch() as watch:
        run = run_sma_cross(market.bars, config, fast=setup.fast, slow=setup.slow)
    result = run.result
    trips = [Trip(t.entry_ts, t.entry_price, t.exit_ts, t.exit_price) for t in result.trips]
    held = run.open_position
    open_entry = None if held is None else (held.entry_ts, held.entry_price)
    return PeerRun(trips, open_entry, result.final_equity, watch.seconds, watch.cpu_seconds)


def run_engine(market: Market, setup: Setup) -> PeerRun:
    """The event-driven backtester: the live OMS, risk engine, paper venue and portfolio."""
    from tradeforge.backtest.config import BacktestConfig
    from tradeforge.backtest.engine import run_backtest
    from tradeforge.backtest.feed import BarColumns

    frame = market.frame
    bars = BarColumns.from_arrays(
        "BTC/USDT",  # the instrument's grid (tick 0.01) is what matters; ETH/USDT has the same
        "1m",
        market.bars.timestamp,
        frame["Open"].to_numpy(),
        frame["High"].to_numpy(),
        frame["Low"].to_numpy(),
        frame["Close"].to_numpy(),
        frame["Volume"].to_numpy(),
    )
    config = BacktestConfig(
        params={"fast": setup.fast, "slow": setup.slow, "quantity": str(setup.quantity)},
        cash=setup.cash,
        fee_rate=setup.fee_rate,
    )
    with Stopwatch() as watch:
        run = run_backtest(config, bars)
    fills = [(f.ts, f.side.value == "buy", f.price) for f in run.fills]
    trips, open_entry = _pair(fills)
    return PeerRun(trips, open_entry, run.result.final_equity, watch.seconds, watch.cpu_seconds)


# -- backtrader ---------------------------------------------------------------------------------


def run_backtrader(market: Market, setup: Setup) -> PeerRun:
    import backtrader as bt

    fills: list[tuple[int, bool, Decimal]] = []

    class SmaCross(bt.Strategy):  # type: ignore[misc]
        params = (("fast", setup.fast), ("slow", setup.slow))

        def __init__(self) -> None:
            fast = bt.ind.SMA(self.data.close, period=self.p.fast)
            slow = bt.ind.SMA(self.data.close, period=self.p.slow)
            self.crossover = bt.ind.CrossOver(fast, slow)

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                moment = bt.num2date(order.executed.dt)
                fills.append(
                    (_ms(moment.replace(microsecond=0)), order.isbuy(), _money(order.executed.price))
                )

        def next(self) -> None:
            if not self.position:
                if self.crossover[0] > 0:
                    self.buy(size=setup.quantity)
            elif self.crossover[0] < 0:
                self.close()

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=market.frame))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(float(setup.cash))
    cerebro.broker.setcommission(commission=float(setup.fee_rate))
    with Stopwatch() as watch:
        cerebro.run()
        value = cerebro.broker.getvalue()
    trips, open_entry = _pair(fills)
    return PeerRun(trips, open_entry, _money(value), watch.seconds, watch.cpu_seconds)


# -- backtesting.py -----------------------------------------------------------------------------


def _rolling_mean(values: Any, period: int) -> Any:
    return pd.Series(values).rolling(period).mean()


def run_backtesting(market: Market, setup: Setup) -> PeerRun:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    class SmaCross(Strategy):  # type: ignore[misc]
        fast = setup.fast
        slow = setup.slow

        def init(self) -> None:
            self.sma_fast = self.I(_rolling_mean, self.data.Close, self.fast)
            self.sma_slow = self.I(_rolling_mean, self.data.Close, self.slow)

        def next(self) -> None:
            if crossover(self.sma_fast, self.sma_slow):
                if not self.position:
                    self.buy(size=setup.quantity)
            elif crossover(self.sma_slow, self.sma_fast) and self.position:
                self.position.close()

    backtest = Backtest(
        market.frame,
        SmaCross,
        cash=float(setup.cash),
        commission=float(setup.fee_rate),
        trade_on_close=False,
        exclusive_orders=False,
        finalize_trades=False,
    )
    with warnings.catch_warnings():
        # "Some trades remain open at the end": deliberate, the open trade is marked at the close.
        warnings.simplefilter("ignore")
        with Stopwatch() as watch:
            stats = backtest.run()
    closed = stats["_trades"]
    trips = [
        Trip(_ms(row.EntryTime), _money(row.EntryPrice), _ms(row.ExitTime), _money(row.ExitPrice))
        for row in closed.itertuples()
    ]
    open_entry = None
    strategy = stats["_strategy"]
    if strategy.trades:
        (trade,) = strategy.trades
        open_entry = (_ms(trade.entry_time), _money(trade.entry_price))
    return PeerRun(trips, open_entry, _money(stats["Equity Final [$]"]), watch.seconds, watch.cpu_seconds)


# -- vectorbt -----------------------------------------------------------------------------------


def vectorbt_engine() -> str:
    """Which engine vectorbt dispatches to here: "rust" only with the vectorbt-rust package."""
    from vectorbt._engine import is_rust_available

    return "rust" if is_rust_available() else "numba"


def run_vectorbt(market: Market, setup: Setup) -> PeerRun:
    import vectorbt as vbt

    close = market.frame["Close"]
    with Stopwatch() as watch, warnings.catch_warnings():
        # vectorbt 1.2 calls DataFrame.rename(inplace=True), which pandas 3.1 deprecates.
        warnings.filterwarnings("ignore", message="The inplace keyword")
        fast = vbt.MA.run(close, setup.fast)
        slow = vbt.MA.run(close, setup.slow)
        # Signals on bar i's close, executed on bar i+1 at its open.
        entries = fast.ma_crossed_above(slow).shift(1, fill_value=False)
        exits = fast.ma_crossed_below(slow).shift(1, fill_value=False)
        portfolio = vbt.Portfolio.from_signals(
            close,
            entries,
            exits,
            price=market.frame["Open"],
            size=float(setup.quantity),
            size_type="amount",
            fees=float(setup.fee_rate),
            init_cash=float(setup.cash),
            direction="longonly",
            accumulate=False,
            freq="1min",
        )
        value = float(portfolio.final_value())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The inplace keyword")
        orders = portfolio.orders.records_readable
    fills = [(_ms(row.Timestamp), row.Side == "Buy", _money(row.Price)) for row in orders.itertuples()]
    trips, open_entry = _pair(fills)
    return PeerRun(
        trips, open_entry, _money(value), watch.seconds, watch.cpu_seconds, {"engine": vectorbt_engine()}
    )


Runner = Callable[[Market, Setup], PeerRun]
# name -> runner; "vectorized" is the reference the others are compared with.
RUNNERS: dict[str, Runner] = {
    "vectorized": run_vectorized,
    "engine": run_engine,
    "backtrader": run_backtrader,
    "backtesting.py": run_backtesting,
    "vectorbt": run_vectorbt,
}


def ties(market: Market, setup: Setup, decimals: int = 2) -> list[int]:
    """Bars where the fast and slow SMAs of closes are exactly equal, compared on integer ticks."""
    ticks = to_ticks(market.bars.close, decimals)
    total = np.concatenate(([0], np.cumsum(ticks)))
    index = np.arange(setup.slow - 1, len(ticks))
    fast_sums = total[index + 1] - total[index + 1 - setup.fast]
    slow_sums = total[index + 1] - total[index + 1 - setup.slow]
    return [int(i) for i in index[fast_sums * setup.slow == slow_sums * setup.fast]]


def describe(moment_ms: int) -> str:
    return datetime.fromtimestamp(moment_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
