"""Backtest market data: OHLCV columns loaded once as floats, and the current bar as Decimal on demand."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from tradeforge.adapters.market_data.bar_files import REQUIRED_COLUMNS
from tradeforge.domain.data import TIMEFRAME_MS, Bar
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.instruments import Instrument

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# Prices memoized per cursor before the memo starts over: recent bars share prices, a year of
# minutes unbounded held ~260,000 Decimals (25 MB) of which almost none were asked for again.
PRICE_MEMO_SIZE = 8192


@dataclass(frozen=True, eq=False)
class BarColumns:
    """One symbol's bars as column arrays in time order (the schema of shared/data: `timestamp` is
    the bar's open time in epoch ms, prices and volume are floats)."""

    symbol: str
    timeframe: str
    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        if self.timeframe not in TIMEFRAME_MS:
            raise ValidationError("timeframe", f"unknown timeframe {self.timeframe!r}")
        size = len(self.ts)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != size:
                raise ValidationError(name, f"has {len(getattr(self, name))} values for {size} timestamps")
        if size > 1 and not bool(np.all(np.diff(self.ts) > 0)):
            raise ValidationError("timestamp", "bars must be in strictly increasing time order")
        for name in ("open", "high", "low", "close"):
            if not bool(np.all(np.isfinite(getattr(self, name)))):
                raise ValidationError(name, "every price must be a finite number")

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def from_arrays(
        cls,
        symbol: str,
        timeframe: str,
        ts: npt.ArrayLike,
        open: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        volume: npt.ArrayLike,
    ) -> BarColumns:
        def floats(values: npt.ArrayLike) -> FloatArray:
            return np.ascontiguousarray(values, dtype=np.float64)

        return cls(
            symbol,
            timeframe,
            np.ascontiguousarray(ts, dtype=np.int64),
            floats(open),
            floats(high),
            floats(low),
            floats(close),
            floats(volume),
        )

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        symbol: str,
        timeframe: str = "1m",
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> BarColumns:
        """Read a Parquet or CSV file of the shared/data schema; keep bars with start <= ts < end."""
        table = _read_table(Path(path))
        bars = cls.from_arrays(
            symbol,
            timeframe,
            table.column("timestamp").to_numpy(),
            table.column("open").to_numpy(),
            table.column("high").to_numpy(),
            table.column("low").to_numpy(),
            table.column("close").to_numpy(),
            table.column("volume").to_numpy(),
        )
        return bars.between(start_ms, end_ms)

    def between(self, start_ms: int | None, end_ms: int | None) -> BarColumns:
        first = 0 if start_ms is None else int(np.searchsorted(self.ts, start_ms, side="left"))
        stop = len(self) if end_ms is None else int(np.searchsorted(self.ts, end_ms, side="left"))
        return self.slice(first, stop)

    def slice(self, first: int, stop: int) -> BarColumns:
        if first == 0 and stop >= len(self):
            return self
        return BarColumns(
            self.symbol,
            self.timeframe,
            self.ts[first:stop],
            self.open[first:stop],
            self.high[first:stop],
            self.low[first:stop],
            self.close[first:stop],
            self.volume[first:stop],
        )


def _read_table(path: Path) -> pa.Table:
    """The six OHLCV columns straight into Arrow (then numpy): no Python object per value, so a year
    of minutes loads in a fraction of the memory a list-based reader needs."""
    if not path.exists():
        raise ValidationError("path", f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise ValidationError("path", f"{path} lacks columns {missing}")
        table = pq.read_table(path, columns=list(REQUIRED_COLUMNS))
    elif suffix == ".csv":
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(path)
        missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
        if missing:
            raise ValidationError("path", f"{path} lacks columns {missing}")
    else:
        raise ValidationError("path", f"{path}: expected a .parquet or .csv file")
    if pa.types.is_timestamp(table.schema.field("timestamp").type):
        column = table.column("timestamp").cast(pa.timestamp("ms")).cast(pa.int64())
        table = table.set_column(table.schema.get_field_index("timestamp"), "timestamp", column)
    return table


class BarCursor:
    """The bar a backtest is at, for the engines that need money: the paper venue (when it has
    working orders or meets a new order) and the portfolio (marks, risk). The Decimal bar is built
    at most once per bar and only when asked, exactly as the replay feed builds it (prices onto the
    instrument's tick grid, volume from the float's shortest repr)."""

    __slots__ = (
        "_bar",
        "_bar_index",
        "_close",
        "_close_index",
        "_close_value",
        "_grid",
        "_high",
        "_low",
        "_open",
        "_prices",
        "_symbol",
        "_timeframe",
        "_to_price",
        "_ts",
        "_volume",
        "index",
    )

    def __init__(self, columns: BarColumns, instrument: Instrument) -> None:
        self._symbol = columns.symbol
        self._timeframe = columns.timeframe
        # The arrays themselves, not Python lists: only the few bars that meet money are read here,
        # and a year of minutes as lists would cost ~75 MB more (the driver converts chunk by chunk).
        self._ts = columns.ts
        self._open = columns.open
        self._high = columns.high
        self._low = columns.low
        self._close = columns.close
        self._volume = columns.volume
        self._to_price = instrument.price_from_market
        self._grid = _decimal_grid(instrument.tick_size)
        # float -> tick-grid Decimal, memoized: neighbouring bars share most prices (an open is
        # usually the previous close) and the conversion costs a microsecond.
        self._prices: dict[float, Decimal] = {}
        self.index = -1
        self._bar_index = -1
        self._bar: Bar | None = None
        # The last close asked for without its bar: an order's risk checks and the portfolio's
        # mark ask for it several times on the bar the order is sent.
        self._close_index = -1
        self._close_value: Decimal | None = None

    def bar(self) -> Bar | None:
        index = self.index
        if index < 0:
            return None
        if index != self._bar_index:
            self._bar = Bar(
                self._symbol,
                self._timeframe,
                int(self._ts[index]),
                self._price(float(self._open[index])),
                self._price(float(self._high[index])),
                self._price(float(self._low[index])),
                self._price(float(self._close[index])),
                Decimal(repr(float(self._volume[index]))),
            )
            self._bar_index = index
        return self._bar

    def _price(self, value: float) -> Decimal:
        price = self._prices.get(value)
        if price is None:
            grid = self._grid
            converted = None if grid is None else on_decimal_grid(value, grid[0], grid[1])
            price = converted if converted is not None else self._to_price(value)
            if len(self._prices) >= PRICE_MEMO_SIZE:
                self._prices.clear()
            self._prices[value] = price
        return price

    def close(self) -> Decimal | None:
        """The current bar's close, without building the bar (the portfolio's mark, a new order's
        reference): the same Decimal bar().close holds."""
        index = self.index
        if index < 0:
            return None
        if index == self._bar_index and self._bar is not None:
            return self._bar.close
        if index == self._close_index:
            return self._close_value
        close = self._close_value = self._price(float(self._close[index]))
        self._close_index = index
        return close


def _decimal_grid(tick: Decimal) -> tuple[Decimal, int] | None:
    """(tick, decimal places) when the tick is a power of ten no larger than 1 (0.01, 1), else None."""
    sign, digits, exponent = tick.as_tuple()
    if sign == 0 and digits == (1,) and isinstance(exponent, int) and exponent <= 0:
        return tick, -exponent
    return None


def on_decimal_grid(value: float, tick: Decimal, places: int) -> Decimal | None:
    """Instrument.price_from_market(value) for a tick of 10**-places, without its division and
    multiplication: the float's shortest repr as is when it has at most `places` decimals (what
    the division and multiplication give back, exponent included), else rounded half-even onto
    the tick. None for a repr in exponent notation (left to price_from_market)."""
    text = repr(value)
    dot = text.find(".")
    if dot < 0 or "e" in text:
        return None
    number = Decimal(text)
    return number if len(text) - dot - 1 <= places else number.quantize(tick, ROUND_HALF_EVEN)
