"""Backtest trade prints: tick columns loaded once as floats, and the current print as Decimal on demand."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tradeforge.backtest.feed import FloatArray, IntArray
from tradeforge.domain.data import Bar, Tick
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.instruments import Instrument

TIME_COLUMNS = ("timestamp", "time", "ts")
PRICE_COLUMNS = ("price",)
SIZE_COLUMNS = ("quantity", "amount", "size", "qty", "volume")
# Epoch values above this are microseconds (ms would be past the year 5000).
MICROSECONDS_FROM = 100_000_000_000_000


@dataclass(frozen=True, eq=False)
class TickColumns:
    """One symbol's trade prints in time order (equal times allowed: several prints per millisecond).
    `close` is the print price, so reports and equity curves treat a print like a one-price bar."""

    symbol: str
    ts: IntArray
    price: FloatArray
    size: FloatArray
    timeframe: str = "tick"

    def __post_init__(self) -> None:
        if not len(self.ts) == len(self.price) == len(self.size):
            raise ValidationError("ticks", "timestamp, price and size must have the same length")
        if len(self.ts) > 1 and not bool(np.all(np.diff(self.ts) >= 0)):
            raise ValidationError("timestamp", "prints must be in time order")
        if not bool(np.all(np.isfinite(self.price))) or not bool(np.all(self.price > 0)):
            raise ValidationError("price", "every price must be a positive finite number")
        if not bool(np.all(np.isfinite(self.size))) or not bool(np.all(self.size >= 0)):
            raise ValidationError("size", "every size must be a non-negative finite number")

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def close(self) -> FloatArray:
        return self.price

    @classmethod
    def from_arrays(
        cls, symbol: str, ts: npt.ArrayLike, price: npt.ArrayLike, size: npt.ArrayLike
    ) -> TickColumns:
        return cls(
            symbol,
            np.ascontiguousarray(ts, dtype=np.int64),
            np.ascontiguousarray(price, dtype=np.float64),
            np.ascontiguousarray(size, dtype=np.float64),
        )

    @classmethod
    def from_file(cls, path: str | Path, symbol: str) -> TickColumns:
        """A Parquet or CSV file of prints: a time column (timestamp/time/ts: an Arrow timestamp, or
        integer epoch ms or µs), `price`, and the size as quantity/amount/size/qty/volume (as in the
        Nautilus and Tardis samples of shared/data). Other columns are ignored."""
        table = _read(Path(path))
        names = {name.lower(): name for name in table.column_names}
        time_name = _pick(names, TIME_COLUMNS, "timestamp")
        price_name = _pick(names, PRICE_COLUMNS, "price")
        size_name = _pick(names, SIZE_COLUMNS, "size")
        return cls.from_arrays(
            symbol,
            _epoch_ms(table.column(time_name)),
            table.column(price_name).to_numpy(),
            table.column(size_name).to_numpy(),
        )


def _read(path: Path) -> pa.Table:
    if not path.exists():
        raise ValidationError("path", f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return pq.read_table(path)
    if suffix == ".csv":
        import pyarrow.csv as pacsv

        return pacsv.read_csv(path)
    raise ValidationError("path", f"{path}: expected a .parquet or .csv file")


def _pick(names: dict[str, str], candidates: tuple[str, ...], what: str) -> str:
    for candidate in candidates:
        if candidate in names:
            return names[candidate]
    raise ValidationError(what, f"no {what} column (one of {', '.join(candidates)})")


def _epoch_ms(column: pa.ChunkedArray) -> IntArray:
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("ms", tz=column.type.tz))
        values = column.cast(pa.int64()).to_numpy()
    elif pa.types.is_integer(column.type):
        values = column.to_numpy().astype(np.int64)
        if len(values) and values.max() >= MICROSECONDS_FROM:
            values = values // 1000
    else:
        raise ValidationError("timestamp", f"expected epoch ms/µs integers or timestamps, not {column.type}")
    result: IntArray = np.ascontiguousarray(values, dtype=np.int64)
    return result


class TickCursor:
    """The print a tick backtest is at, as the engines need it with money: a Tick for the venue's
    matching, and a one-price Bar for an order arriving between prints (built only when asked)."""

    __slots__ = ("_bar", "_bar_index", "_price", "_prices", "_size", "_symbol", "_to_price", "_ts", "index")

    def __init__(self, columns: TickColumns, instrument: Instrument) -> None:
        self._symbol = columns.symbol
        self._ts: list[int] = columns.ts.tolist()
        self._price: list[float] = columns.price.tolist()
        self._size: list[float] = columns.size.tolist()
        self._to_price = instrument.price_from_market
        self._prices: dict[float, Decimal] = {}
        self.index = -1
        self._bar_index = -1
        self._bar: Bar | None = None

    def tick_at(self, index: int) -> Tick:
        return Tick(self._symbol, self._ts[index], self._money(self._price[index]), self._size_of(index))

    def bar(self) -> Bar | None:
        index = self.index
        if index < 0:
            return None
        if index != self._bar_index:
            price = self._money(self._price[index])
            self._bar = Bar(
                self._symbol, "tick", self._ts[index], price, price, price, price, self._size_of(index)
            )
            self._bar_index = index
        return self._bar

    def close(self) -> Decimal | None:
        bar = self.bar()
        return None if bar is None else bar.close

    def _money(self, value: float) -> Decimal:
        price = self._prices.get(value)
        if price is None:
            price = self._prices[value] = self._to_price(value)
        return price

    def _size_of(self, index: int) -> Decimal:
        return Decimal(repr(self._size[index]))
