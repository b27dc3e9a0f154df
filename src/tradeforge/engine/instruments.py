"""Registry of the instruments each venue trades, looked up by venue and symbol."""

from __future__ import annotations

from collections.abc import Iterable

from tradeforge.domain.errors import UnknownInstrument, ValidationError
from tradeforge.domain.instruments import Instrument


class InstrumentRegistry:
    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self._by_key: dict[tuple[str, str], Instrument] = {}
        self._by_symbol: dict[str, Instrument] = {}
        for instrument in instruments:
            self.add(instrument)

    def add(self, instrument: Instrument) -> None:
        self._by_key[(instrument.venue, instrument.symbol)] = instrument
        self._by_symbol.setdefault(instrument.symbol, instrument)

    def get(self, venue: str, symbol: str) -> Instrument:
        instrument = self._by_key.get((venue, symbol))
        if instrument is None:
            if not any(v == venue for v, _ in self._by_key):
                raise ValidationError("venue", f"unknown venue {venue!r}")
            raise UnknownInstrument(symbol)
        return instrument

    def find(self, symbol: str) -> Instrument:
        """The instrument for a symbol on any venue (first registered wins)."""
        instrument = self._by_symbol.get(symbol)
        if instrument is None:
            raise UnknownInstrument(symbol)
        return instrument

    def venues(self) -> list[str]:
        return sorted({venue for venue, _ in self._by_key})

    def all(self) -> list[Instrument]:
        return list(self._by_key.values())
