"""Read OHLCV bar files (Parquet or CSV, the schema of shared/data) into domain bars."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tradeforge.domain.data import TIMEFRAME_MS, Bar
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.instruments import Instrument

REQUIRED_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class BarFile:
    """A file of bars for one symbol and timeframe; prices are put onto the instrument's tick grid."""

    path: Path
    instrument: Instrument
    timeframe: str = "1m"

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    def bars(self) -> Iterator[Bar]:
        if self.timeframe not in TIMEFRAME_MS:
            raise ValidationError("timeframe", f"unknown timeframe {self.timeframe!r}")
        columns = read_columns(self.path)
        to_price = self.instrument.price_from_market
        symbol, timeframe = self.symbol, self.timeframe
        for ts, o, h, low, c, v in zip(*(columns[name] for name in REQUIRED_COLUMNS), strict=True):
            yield Bar(
                symbol,
                timeframe,
                int(ts),
                to_price(o),
                to_price(h),
                to_price(low),
                to_price(c),
                Decimal(repr(v)) if isinstance(v, float) else Decimal(v),
            )


def read_columns(path: Path) -> dict[str, list[float]]:
    """The six OHLCV columns of a Parquet or CSV file, as Python lists."""
    if not path.exists():
        raise ValidationError("path", f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
        if missing:
            raise ValidationError("path", f"{path} lacks columns {missing}")
        return {name: table.column(name).to_pylist() for name in REQUIRED_COLUMNS}
    if suffix == ".csv":
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValidationError("path", f"{path} lacks columns {missing}")
            rows = list(reader)
        return {
            name: [float(row[name]) if name != "timestamp" else int(row[name]) for row in rows]
            for name in REQUIRED_COLUMNS
        }
    raise ValidationError("path", f"{path}: expected a .parquet or .csv file")
