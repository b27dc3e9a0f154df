"""Replay feed: plays bar files into the running system at a chosen speed, looping if asked."""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import logging
from collections.abc import Iterator, Sequence

from tradeforge.adapters.market_data.bar_files import BarFile
from tradeforge.domain.data import TIMEFRAME_MS, Bar
from tradeforge.engine.recorder import UnitHandle
from tradeforge.runtime.system import TradingSystem

logger = logging.getLogger(__name__)


def merged_bars(files: Sequence[BarFile]) -> list[Bar]:
    """All files' bars in time order (ties broken by symbol, so the order is deterministic)."""
    return list(heapq.merge(*(f.bars() for f in files), key=lambda bar: (bar.ts, bar.symbol)))


def time_steps(bars: Sequence[Bar]) -> Iterator[list[Bar]]:
    """Groups of bars sharing one open time."""
    group: list[Bar] = []
    for bar in bars:
        if group and bar.ts != group[0].ts:
            yield group
            group = []
        group.append(bar)
    if group:
        yield group


async def _settled(handles: Sequence[UnitHandle]) -> None:
    """Wait until each bar's unit is committed and published: strategies have then seen the bar
    (and sent their orders), so a fast replay never outruns the system — the next bar meets those
    orders exactly as in the backtester, whatever the speed."""
    for handle in handles:
        if handle.committed is None or handle.committed.done():
            continue
        try:
            await asyncio.wrap_future(handle.committed)
        except Exception:
            logger.exception("a replayed bar could not be stored")


class ReplayFeed:
    """Publishes one time step of bars every `timeframe / speed` seconds. When looping, each pass
    is shifted forward by the file's span so time never goes back (the data engine drops stale bars)."""

    def __init__(self, system: TradingSystem, files: Sequence[BarFile], speed: float, loop: bool) -> None:
        self._system = system
        self._bars = merged_bars(files)
        self._speed = speed
        self._loop = loop
        self._step_ms = min((TIMEFRAME_MS[f.timeframe] for f in files), default=60_000)
        self.bars_replayed = 0
        self.passes = 0

    async def run(self, stop: asyncio.Event) -> None:
        if not self._bars:
            logger.warning("replay has no bars to play")
            return
        span = self._bars[-1].ts - self._bars[0].ts + self._step_ms
        interval = self._step_ms / 1000 / self._speed
        shift = 0
        while not stop.is_set():
            for group in time_steps(self._bars):
                handles = []
                for bar in group:
                    bar = dataclasses.replace(bar, ts=bar.ts + shift) if shift else bar
                    handles.append(self._system.process_bar(bar))
                    self.bars_replayed += 1
                await _settled(handles)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=interval)
                    return
                except TimeoutError:
                    pass
            self.passes += 1
            if not self._loop:
                return
            shift += span
