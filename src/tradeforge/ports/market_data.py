"""Market data port: a source of bars (and later ticks) the data engine pulls from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from tradeforge.domain.data import Bar


class BarSource(Protocol):
    symbol: str
    timeframe: str

    def bars(self) -> Iterator[Bar]:
        """Bars in time order."""
        ...
