"""Market data values: OHLCV bars and trade ticks, with Decimal prices on the instrument grid."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar; ts is the bar's open time in epoch milliseconds (UTC); volume is in base units."""

    symbol: str
    timeframe: str
    ts: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @property
    def close_ts(self) -> int:
        return self.ts + TIMEFRAME_MS[self.timeframe]


@dataclass(frozen=True, slots=True)
class Tick:
    """One trade print (or a last-price update) in epoch milliseconds."""

    symbol: str
    ts: int
    price: Decimal
    size: Decimal


TIMEFRAME_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
