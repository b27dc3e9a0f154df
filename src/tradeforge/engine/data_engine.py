"""Data engine: drops duplicate or stale bars, aggregates timeframes, publishes bars and last prices."""

from __future__ import annotations

from decimal import Decimal

from tradeforge.bus import topics
from tradeforge.bus.message_bus import MessageBus
from tradeforge.domain.data import TIMEFRAME_MS, Bar, Tick
from tradeforge.domain.errors import ValidationError


class _Aggregation:
    def __init__(self, target: str) -> None:
        self.target = target
        self.span = TIMEFRAME_MS[target]
        self.current: Bar | None = None


class DataEngine:
    """Every bar entering the system passes here, so subscribers see each (symbol, timeframe) in
    strictly increasing time and never twice."""

    def __init__(self, bus: MessageBus) -> None:
        self._bus = bus
        self._last_ts: dict[tuple[str, str], int] = {}
        self._last_price: dict[str, Decimal] = {}
        self._aggregations: dict[tuple[str, str], list[_Aggregation]] = {}
        self._last_tick_ts: dict[str, int] = {}
        self.bars_published = 0
        self.bars_dropped = 0
        self.ticks_dropped = 0

    def aggregate(self, symbol: str, source: str, target: str) -> None:
        """Also publish `target` bars built from `source` bars (e.g. 1m into 5m)."""
        for timeframe in (source, target):
            if timeframe not in TIMEFRAME_MS:
                raise ValidationError("timeframe", f"unknown timeframe {timeframe!r}")
        if TIMEFRAME_MS[target] <= TIMEFRAME_MS[source] or TIMEFRAME_MS[target] % TIMEFRAME_MS[source]:
            raise ValidationError("timeframe", f"{target} is not a whole multiple of {source}")
        self._aggregations.setdefault((symbol, source), []).append(_Aggregation(target))

    def on_bar(self, bar: Bar) -> bool:
        """Publish a bar; returns False when it was dropped as a duplicate or out of order."""
        key = (bar.symbol, bar.timeframe)
        last = self._last_ts.get(key)
        if last is not None and bar.ts <= last:
            self.bars_dropped += 1
            return False
        self._last_ts[key] = bar.ts
        self._publish(bar)
        for aggregation in self._aggregations.get(key, ()):
            self._roll(aggregation, bar)
        return True

    def on_tick(self, tick: Tick) -> bool:
        """Publish a trade print; returns False when it is older than the last one of its symbol."""
        last = self._last_tick_ts.get(tick.symbol)
        if last is not None and tick.ts < last:
            self.ticks_dropped += 1
            return False
        self._last_tick_ts[tick.symbol] = tick.ts
        self._last_price[tick.symbol] = tick.price
        self._bus.publish(topics.ticks(tick.symbol), tick)
        self._bus.publish(topics.last_price(tick.symbol), tick.price)
        return True

    def last_price(self, symbol: str) -> Decimal | None:
        return self._last_price.get(symbol)

    def _publish(self, bar: Bar) -> None:
        self.bars_published += 1
        self._last_price[bar.symbol] = bar.close
        self._bus.publish(topics.bars(bar.symbol, bar.timeframe), bar)
        self._bus.publish(topics.last_price(bar.symbol), bar.close)

    def _roll(self, aggregation: _Aggregation, bar: Bar) -> None:
        start = bar.ts - bar.ts % aggregation.span
        current = aggregation.current
        if current is not None and current.ts != start:
            self._publish(current)
            current = None
        if current is None:
            current = Bar(
                bar.symbol, aggregation.target, start, bar.open, bar.high, bar.low, bar.close, bar.volume
            )
        else:
            current = Bar(
                bar.symbol,
                aggregation.target,
                start,
                current.open,
                max(current.high, bar.high),
                min(current.low, bar.low),
                bar.close,
                current.volume + bar.volume,
            )
        aggregation.current = current
        if bar.close_ts == start + aggregation.span:
            self._publish(current)
            aggregation.current = None
