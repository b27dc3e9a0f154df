"""The backtest loops over bars and prints: all a bar costs when nothing trades (compiled, ADR 7)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from tradeforge.adapters.clocks import SimulatedClock
from tradeforge.adapters.paper.venue import PaperVenue
from tradeforge.backtest.feed import BarColumns, BarCursor
from tradeforge.backtest.results import PROGRESS_EVERY_BARS
from tradeforge.backtest.ticks import TickColumns, TickCursor
from tradeforge.domain.identifiers import Symbol
from tradeforge.engine.recorder import UnitRecorder
from tradeforge.strategies.base import BarView, TickView


def drive_bars(
    bars: BarColumns,
    cursor: BarCursor,
    clock: SimulatedClock,
    venue: PaperVenue,
    recorder: UnitRecorder,
    deliver: Callable[[BarView, Decimal | None], None],
    advance: Callable[[int], None],
) -> None:
    """The loop: it is the whole per-bar cost, so it only touches what a bar needs (ADR 5)."""
    symbol, timeframe = str(Symbol.parse(bars.symbol)), bars.timeframe
    at_open, stops, limits = venue.order_queues(symbol)
    on_bar = venue.on_bar
    new_view = tuple.__new__
    columns = (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume)
    total = len(bars)
    for first in range(0, total, PROGRESS_EVERY_BARS):
        stop = min(first + PROGRESS_EVERY_BARS, total)
        index = first
        # Lists per chunk: iterating a list is several times cheaper than a numpy array, and a
        # chunk at a time keeps a year of minutes from existing twice in memory.
        chunk = [column[first:stop].tolist() for column in columns]
        for ts, o, h, lo, c, v in zip(*chunk, strict=True):
            # Methods called on the objects, not through bound-method variables: compiled, these
            # are direct native calls.
            clock.set(ts)
            cursor.index = index
            index += 1
            if at_open or stops or limits:
                recorder.call_in_unit(on_bar, cursor.bar())
            recorder.call_in_unit(deliver, new_view(BarView, (symbol, timeframe, ts, o, h, lo, c, v)), None)
        advance(stop - first)


def drive_ticks(
    ticks: TickColumns,
    cursor: TickCursor,
    clock: SimulatedClock,
    venue: PaperVenue,
    recorder: UnitRecorder,
    deliver: Callable[[TickView], None],
    advance: Callable[[int], None],
) -> None:
    """Per print: the venue matches it (as a bar from the previous print, docs/paper-exchange.md)
    when it holds working orders, then strategies' on_tick sees it."""
    symbol = str(Symbol.parse(ticks.symbol))
    at_open, stops, limits = venue.order_queues(symbol)
    on_tick = venue.on_tick
    new_view = tuple.__new__
    columns = (ticks.ts, ticks.price, ticks.size)
    total = len(ticks)
    for first in range(0, total, PROGRESS_EVERY_BARS):
        stop = min(first + PROGRESS_EVERY_BARS, total)
        index = first
        chunk = [column[first:stop].tolist() for column in columns]
        for ts, price, size in zip(*chunk, strict=True):
            clock.set(ts)
            if at_open or stops or limits:
                # Matched before the cursor moves: the venue's previous price is the previous print.
                recorder.call_in_unit(on_tick, cursor.tick_at(index))
            cursor.index = index
            index += 1
            recorder.call_in_unit(deliver, new_view(TickView, (symbol, ts, price, size)))
        advance(stop - first)
