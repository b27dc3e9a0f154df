"""Order books through the ccxt venue adapter: fetched on the venue's loop, cached, refreshed for the router.

The router runs inside the OMS on the event loop's thread and cannot wait for the network, so books
are kept warm here: `on_time` (the runtime's timer) refreshes every watched symbol whose book is
older than `refresh_ms`, one request at a time per symbol, only while the circuit is closed and the
venue's request budget holds more than `budget_reserve` of its capacity (orders come first). Each
fetch goes through the adapter's client, so it is budgeted, mapped, and counted by the breaker:
a venue that stops answering opens its circuit from book refreshes alone.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradeforge.adapters.ccxt.breaker import BreakerState
from tradeforge.adapters.ccxt.errors import VenueError
from tradeforge.adapters.ccxt.venue import CcxtVenue
from tradeforge.ports.clock import Clock

logger = logging.getLogger(__name__)

Level = tuple[Decimal, Decimal]
BOOK_OPERATION = "fetch_order_book"


@dataclass(frozen=True, slots=True)
class BookPolicy:
    """depth: levels per side requested (20 is valid on all four venues). refresh_ms: a watched
    book older than this is fetched again on the next timer tick. max_age_ms: older books are not
    routed on. budget_reserve: share of the venue's request budget refreshes leave for orders."""

    depth: int = 20
    refresh_ms: int = 1_000
    max_age_ms: int = 5_000
    budget_reserve: float = 0.5

    def __post_init__(self) -> None:
        if self.depth < 1 or self.refresh_ms < 0 or self.max_age_ms < 1:
            raise ValueError("depth and max_age_ms must be positive, refresh_ms not negative")
        if not 0 <= self.budget_reserve < 1:
            raise ValueError("budget_reserve must be in [0, 1)")


@dataclass(frozen=True, slots=True)
class OrderBookSnapshot:
    """One book as the venue listed it, best levels first, in Decimal (through the floats' shortest
    text, so 86810.4 stays 86810.4). fetched_ms: our clock when the answer arrived."""

    venue: str
    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    fetched_ms: int
    venue_ts: int | None = None

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None


def book_from_ccxt(venue: str, symbol: str, raw: dict[str, Any], fetched_ms: int) -> OrderBookSnapshot:
    timestamp = raw.get("timestamp")
    return OrderBookSnapshot(
        venue,
        symbol,
        _levels(raw.get("bids") or ()),
        _levels(raw.get("asks") or ()),
        fetched_ms,
        int(timestamp) if timestamp is not None else None,
    )


def _levels(rows: Iterable[Sequence[Any]]) -> tuple[Level, ...]:
    out: list[Level] = []
    for row in rows:
        if len(row) < 2 or row[0] is None or row[1] is None:
            continue
        price, size = _decimal(row[0]), _decimal(row[1])
        if price > 0 and size > 0:
            out.append((price, size))
    return tuple(out)


def _decimal(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


class VenueBooks:
    """The books of one CcxtVenue for the symbols watched. Single-threaded: the venue's loop."""

    def __init__(
        self, venue: CcxtVenue, clock: Clock, policy: BookPolicy | None = None, symbols: Iterable[str] = ()
    ) -> None:
        self._venue = venue
        self._clock = clock
        self.policy = policy or BookPolicy()
        self._books: dict[str, OrderBookSnapshot] = {}
        self._watched: dict[str, None] = dict.fromkeys(symbols)
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._failing: set[str] = set()
        self.fetches = 0
        self.failures = 0
        self.skipped_for_budget = 0
        self.last_error = ""

    @property
    def watched(self) -> tuple[str, ...]:
        return tuple(self._watched)

    def watch(self, symbol: str) -> None:
        self._watched.setdefault(symbol, None)

    def latest(self, symbol: str) -> OrderBookSnapshot | None:
        return self._books.get(symbol)

    def book(self, symbol: str) -> OrderBookSnapshot | None:
        """The latest book when it is at most max_age_ms old, else None."""
        book = self._books.get(symbol)
        if book is None or self._clock.now_ms() - book.fetched_ms > self.policy.max_age_ms:
            return None
        return book

    async def fetch(self, symbol: str) -> OrderBookSnapshot:
        """One book now, through the adapter's client (budget, breaker, error mapping); cached."""
        client = self._venue.client
        try:
            raw = await client.call(BOOK_OPERATION, symbol, self.policy.depth)
        except VenueError as error:
            self.failures += 1
            self.last_error = str(error)
            raise
        self.fetches += 1
        book = book_from_ccxt(self._venue.name, symbol, dict(raw), self._clock.now_ms())
        self._books[symbol] = book
        return book

    async def refresh_all(self) -> int:
        """Fetch every watched book once (at start, so the first routed order has prices); returns
        how many arrived. Failures are counted and logged, never raised."""
        arrived = 0
        for symbol in list(self._watched):
            if await self._refresh(symbol):
                arrived += 1
        return arrived

    def on_time(self, now_ms: int) -> None:
        """Schedule refreshes of stale watched books (call on the venue's loop)."""
        if not self._may_refresh():
            return
        for symbol in self._watched:
            if symbol in self._inflight:
                continue
            book = self._books.get(symbol)
            if book is not None and now_ms - book.fetched_ms < self.policy.refresh_ms:
                continue
            if not self._budget_allows():
                self.skipped_for_budget += 1
                return
            task = asyncio.get_running_loop().create_task(self._refresh_quietly(symbol))
            self._inflight[symbol] = task
            task.add_done_callback(functools.partial(self._refreshed, symbol))

    async def close(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _may_refresh(self) -> bool:
        return self._venue.started and self._venue.client.breaker.state is BreakerState.CLOSED

    def _budget_allows(self) -> bool:
        client = self._venue.client
        reserve = client.rates.capacity * self.policy.budget_reserve
        return client.budget.remaining() >= max(reserve, client.rates.weight(BOOK_OPERATION))

    def _refreshed(self, symbol: str, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(symbol, None)

    async def _refresh_quietly(self, symbol: str) -> None:
        await self._refresh(symbol)

    async def _refresh(self, symbol: str) -> bool:
        try:
            await self.fetch(symbol)
        except VenueError as error:
            # Once per outage, not once a second: the breaker and /ready tell the rest.
            level = logging.DEBUG if symbol in self._failing else logging.WARNING
            logger.log(level, "%s: order book %s not refreshed: %s", self._venue.name, symbol, error)
            self._failing.add(symbol)
            return False
        if symbol in self._failing:
            self._failing.discard(symbol)
            logger.info("%s: order book %s refreshed again", self._venue.name, symbol)
        return True
