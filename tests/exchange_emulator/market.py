"""Market data the emulator serves: instruments, real 1-minute bars, the current price, a synthetic book."""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path

import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_BARS = {
    "BTC/USDT": REPO_ROOT / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet",
    "ETH/USDT": REPO_ROOT / "data" / "samples" / "ETHUSDT_1m_2025-03-01_7d.parquet",
}
# The full year 2025 (525,600 bars per symbol) where the shared data set is mounted (see its README).
SHARED_YEAR_BARS = {
    "BTC/USDT": Path("/work/shared/data/binance_spot_1m/BTCUSDT_1m_2025.parquet"),
    "ETH/USDT": Path("/work/shared/data/binance_spot_1m/ETHUSDT_1m_2025.parquet"),
}
MINUTE_MS = 60_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Instrument:
    """One spot market as a venue lists it. Assets use unified codes (BTC, not Kraken's XXBT)."""

    symbol: str
    venue_id: str
    base: str
    quote: str
    tick: Decimal
    lot: Decimal
    min_qty: Decimal
    min_notional: Decimal
    maker_fee: Decimal
    taker_fee: Decimal
    level_qty: Decimal  # synthetic book: base quantity at the first level of each side

    def round_price(self, price: Decimal) -> Decimal:
        return (price / self.tick).to_integral_value(ROUND_DOWN) * self.tick

    def round_qty(self, qty: Decimal) -> Decimal:
        return (qty / self.lot).to_integral_value(ROUND_DOWN) * self.lot

    def on_tick(self, price: Decimal) -> bool:
        return price > 0 and price % self.tick == 0

    def on_lot(self, qty: Decimal) -> bool:
        return qty > 0 and qty % self.lot == 0


@dataclass(frozen=True)
class Candle:
    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int


@dataclass(frozen=True)
class BarSeries:
    """A strictly regular 1-minute series, kept as plain lists (read once per file and cached)."""

    timestamps: tuple[int, ...]
    opens: tuple[float, ...]
    highs: tuple[float, ...]
    lows: tuple[float, ...]
    closes: tuple[float, ...]
    volumes: tuple[float, ...]

    @property
    def first_ms(self) -> int:
        return self.timestamps[0]

    @property
    def last_ms(self) -> int:
        return self.timestamps[-1]

    def index_at(self, ts: int) -> int:
        """Index of the bar open at or before ts (clamped to the series)."""
        return max(0, min(len(self.timestamps) - 1, bisect.bisect_right(self.timestamps, ts) - 1))


@functools.cache
def load_bars(path: Path) -> BarSeries:
    table = pq.read_table(path, columns=["timestamp", "open", "high", "low", "close", "volume"])
    columns = {name: tuple(table.column(name).to_pylist()) for name in table.column_names}
    return BarSeries(
        timestamps=columns["timestamp"],
        opens=columns["open"],
        highs=columns["high"],
        lows=columns["low"],
        closes=columns["close"],
        volumes=columns["volume"],
    )


def _dec(value: float) -> Decimal:
    return Decimal(repr(value))


class MarketData:
    """Bars up to a cursor (the emulator's "now" for market data) and the current price per symbol.

    The current price starts at the close of the bar at the cursor and can be set by the test; the book is
    synthetic around it: best bid = price, best ask = price + spread, then levels every `level_step_bps`
    with quantities that repeat 1x..5x the instrument's level_qty. The book never depletes.
    """

    def __init__(
        self,
        instruments: dict[str, Instrument],
        bar_files: dict[str, Path],
        *,
        cursor_ms: int | None = None,
        spread_bps: Decimal = Decimal("1"),
        level_step_bps: Decimal = Decimal("0.5"),
        depth: int = 100,
    ) -> None:
        self.instruments = instruments
        self._series = {
            symbol: load_bars(path) for symbol, path in bar_files.items() if symbol in instruments
        }
        ends = [series.last_ms for series in self._series.values()]
        self.cursor_ms = cursor_ms if cursor_ms is not None else (min(ends) if ends else 0)
        self.spread_bps = spread_bps
        self.level_step_bps = level_step_bps
        self.depth = depth
        self._last: dict[str, Decimal] = {}
        for symbol in instruments:
            self._last[symbol] = self._close_at_cursor(symbol)

    def _close_at_cursor(self, symbol: str) -> Decimal:
        series = self._series.get(symbol)
        instrument = self.instruments[symbol]
        if series is None:
            return instrument.tick * 100_000
        return instrument.round_price(_dec(series.closes[series.index_at(self.cursor_ms)]))

    def has_bars(self, symbol: str) -> bool:
        return symbol in self._series

    def last(self, symbol: str) -> Decimal:
        return self._last[symbol]

    def set_last(self, symbol: str, price: Decimal) -> None:
        instrument = self.instruments[symbol]
        rounded = instrument.round_price(price)
        if rounded <= 0:
            raise ValueError(f"price {price} is below one tick of {symbol}")
        self._last[symbol] = rounded

    def move_cursor(self, cursor_ms: int) -> None:
        """Move market time; every symbol's price becomes the close of its bar at that time."""
        self.cursor_ms = cursor_ms
        for symbol in self.instruments:
            self._last[symbol] = self._close_at_cursor(symbol)

    def spread(self, symbol: str) -> Decimal:
        instrument = self.instruments[symbol]
        raw = self._last[symbol] * self.spread_bps / Decimal(10_000)
        return max(instrument.tick, (raw / instrument.tick).to_integral_value(ROUND_UP) * instrument.tick)

    def best_bid(self, symbol: str) -> Decimal:
        return self._last[symbol]

    def best_ask(self, symbol: str) -> Decimal:
        return self._last[symbol] + self.spread(symbol)

    def levels(self, symbol: str, side: str, count: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """Book levels, best first. side is 'bids' or 'asks'."""
        instrument = self.instruments[symbol]
        raw_step = self._last[symbol] * self.level_step_bps / Decimal(10_000)
        step = max(instrument.tick, instrument.round_price(raw_step))
        top = self.best_bid(symbol) if side == "bids" else self.best_ask(symbol)
        sign = -1 if side == "bids" else 1
        out: list[tuple[Decimal, Decimal]] = []
        for i in range(min(count or self.depth, self.depth)):
            price = top + sign * step * i
            if price <= 0:
                break
            out.append((price, instrument.level_qty * (1 + i % 5)))
        return out

    def candles(
        self,
        symbol: str,
        minutes: int,
        since_ms: int | None,
        limit: int,
        until_ms: int | None = None,
        *,
        newest: bool = False,
    ) -> list[Candle]:
        """Bars aggregated to `minutes`, oldest first, none opening after the cursor (or after until_ms).

        Without since (or with newest=True), the most recent `limit` bars of the range, which is what an
        exchange returns for "latest"; with since, the first `limit` bars opening at or after it.
        """
        series = self._series.get(symbol)
        if series is None or limit <= 0:
            return []
        width = minutes * MINUTE_MS
        end_ms = self.cursor_ms if until_ms is None else min(self.cursor_ms, until_ms)
        last_bucket = end_ms - end_ms % width
        if since_ms is None:
            first_bucket = last_bucket - (limit - 1) * width
        else:
            first_bucket = since_ms - since_ms % width
            if first_bucket < since_ms:
                first_bucket += width
            if newest:
                first_bucket = max(first_bucket, last_bucket - (limit - 1) * width)
        first_bucket = max(first_bucket, series.first_ms - series.first_ms % width)
        out: list[Candle] = []
        bucket = first_bucket
        while bucket <= last_bucket and len(out) < limit:
            candle = self._aggregate(symbol, series, bucket, min(bucket + width, self.cursor_ms + MINUTE_MS))
            if candle is not None:
                out.append(candle)
            bucket += width
        return out

    def _aggregate(self, symbol: str, series: BarSeries, start: int, end: int) -> Candle | None:
        lo = bisect.bisect_left(series.timestamps, start)
        hi = bisect.bisect_left(series.timestamps, end)
        if lo >= hi:
            return None
        instrument = self.instruments[symbol]
        volume = sum(series.volumes[lo:hi])
        quote = sum(series.volumes[i] * series.closes[i] for i in range(lo, hi))
        return Candle(
            open_ms=start,
            open=instrument.round_price(_dec(series.opens[lo])),
            high=instrument.round_price(_dec(max(series.highs[lo:hi]))),
            low=instrument.round_price(_dec(min(series.lows[lo:hi]))),
            close=instrument.round_price(_dec(series.closes[hi - 1])),
            volume=_dec(round(volume, 8)),
            quote_volume=_dec(round(quote, 8)),
            trades=(hi - lo) * 37,  # the sample has no trade counts; a stable stand-in
        )

    def day_stats(self, symbol: str) -> Candle:
        """The rolling 24 h window ending at the cursor, with the current price as close."""
        last = self._last[symbol]
        series = self._series.get(symbol)
        candle = None
        if series is not None:
            candle = self._aggregate(symbol, series, self.cursor_ms - DAY_MS + MINUTE_MS, self.cursor_ms + 1)
        if candle is None:
            return Candle(self.cursor_ms - DAY_MS, last, last, last, last, Decimal(0), Decimal(0), 0)
        return Candle(
            open_ms=candle.open_ms,
            open=candle.open,
            high=max(candle.high, last),
            low=min(candle.low, last),
            close=last,
            volume=candle.volume,
            quote_volume=candle.quote_volume,
            trades=candle.trades,
        )
