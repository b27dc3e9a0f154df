"""Download OHLCV history through the venue adapter into the bar store: paged, durable per page, resumable.

    report = download(DownloadRequest("binance", "BTC/USDT", "1m", since_ms), ParquetBarStore(root))

Pages are requested by `since`/`limit` (and, where the venue takes one, an end bound so a page is one
exact window of bars) and each page is appended to the store before the next is asked for, so an
interruption loses at most the page in flight. A later run downloads only what the store lacks inside
the requested range: before its first bar and after its last (holes inside are reported, not refetched).
Only closed bars are stored, so a bar still forming is never frozen into the store.

Every request (load_markets, fetch_ohlcv) goes through the adapter's public-data client
(`adapters/ccxt/public.py`): the venue's request budget and circuit breaker, its error translation into
Venue* errors and its RetryPolicy. How a venue pages is capability data (`VenueCapabilities.ohlcv`). The
aiohttp session is injectable (`session_factory`) so that tests reach a local exchange emulator at the
transport, with ccxt's production URLs unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tradeforge.adapters.ccxt.capabilities import VenueCapabilities
from tradeforge.adapters.ccxt.client import VenueClient
from tradeforge.adapters.ccxt.errors import (
    VenueAmbiguous,
    VenueCircuitOpen,
    VenueError,
    VenueNotSupported,
    VenueRateLimited,
    VenueUnavailable,
)
from tradeforge.adapters.ccxt.override import (
    CA_FILE_ENV,
    RESOLVE_ENV,
    StaticResolver,
    TransportOverride,
    transport_override_from_env,
)
from tradeforge.adapters.ccxt.public import (
    PublicClientOptions,
    make_public_client,
    opened,
    public_capabilities,
)
from tradeforge.adapters.ccxt.retry import RetryPolicy
from tradeforge.adapters.ccxt.session import SessionFactory
from tradeforge.adapters.market_data.bar_table import COLUMNS, gap_stats, timeframe_ms
from tradeforge.adapters.market_data.store import ParquetBarStore, dataset_key
from tradeforge.domain.errors import TradeForgeError, ValidationError

# The transport override lives in the adapter now; these names stay importable from here.
__all__ = [
    "CA_FILE_ENV",
    "RESOLVE_ENV",
    "DownloadError",
    "DownloadProgress",
    "DownloadReport",
    "DownloadRequest",
    "SessionFactory",
    "StaticResolver",
    "TransportOverride",
    "download",
    "download_async",
    "missing_segments",
    "transport_override_from_env",
]


class DownloadError(TradeForgeError):
    """A download that could not finish; `progress` says what was stored before it stopped, and
    `transient` whether the same request may succeed later (timeouts, 5xx, rate limits)."""

    def __init__(
        self, message: str, progress: DownloadProgress | None = None, transient: bool = False
    ) -> None:
        super().__init__(message)
        self.progress = progress
        self.transient = transient


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    """Bars of `symbol` at `venue` opening in [since_ms, until_ms) (until: now when None)."""

    venue: str
    symbol: str
    timeframe: str
    since_ms: int
    until_ms: int | None = None
    sandbox: bool = False
    retries: int = 3  # of a request that failed transiently, on the adapter's RetryPolicy schedule

    @property
    def dataset_venue(self) -> str:
        """Sandbox bars are not the venue's real market: they are stored apart (`binance_sandbox`)."""
        return f"{self.venue}_sandbox" if self.sandbox else self.venue


@dataclass(slots=True)
class DownloadProgress:
    """Running totals, handed to the progress callback after every page."""

    expected: int = 0
    new_rows: int = 0
    pages: int = 0
    requests: int = 0
    retries: int = 0
    first_new: int | None = None
    last_new: int | None = None


@dataclass(frozen=True, slots=True)
class DownloadReport:
    venue: str
    symbol: str
    timeframe: str
    start_ms: int
    end_ms: int  # exclusive
    resumed_from: int | None  # the newest stored bar before this run, if the run continued after it
    progress: DownloadProgress
    stored_rows: int
    first_ts: int | None  # stored bars inside [start_ms, end_ms)
    last_ts: int | None
    gaps: int
    holes: int
    missing_before: int  # bar slots at the start of the range the venue did not serve
    missing_after: int
    path: Path
    notes: tuple[str, ...] = field(default=())


def missing_segments(
    start: int, end: int, stored: tuple[int, int] | None, step: int
) -> list[tuple[int, int]]:
    """The parts of [start, end) before the first and after the last stored bar."""
    if stored is None or stored[1] < start or stored[0] >= end:
        return [(start, end)] if start < end else []
    first, last = stored
    segments = []
    if start < first:
        segments.append((start, first))
    if last + step < end:
        segments.append((last + step, end))
    return segments


def download(request: DownloadRequest, store: ParquetBarStore, **options: Any) -> DownloadReport:
    """download_async() to the end on a new event loop (for synchronous callers such as the CLI)."""
    return asyncio.run(download_async(request, store, **options))


async def download_async(
    request: DownloadRequest,
    store: ParquetBarStore,
    *,
    session_factory: SessionFactory | None = None,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    now_ms: Callable[[], int] | None = None,
    client: PublicClientOptions | None = None,
) -> DownloadReport:
    """Fetch what the store lacks of the request. client: how the adapter's public client is built
    (budget, Redis sharing, breaker); without a `retry` there, the adapter's RetryPolicy with
    `request.retries` retries."""
    venue, parsed, timeframe = dataset_key(request.dataset_venue, request.symbol, request.timeframe)
    symbol = str(parsed)
    capabilities = _capabilities(request)
    step = timeframe_ms(timeframe)
    now = (now_ms or _wall_ms)()
    start = -(-request.since_ms // step) * step
    newest_closed_end = now - now % step  # bars opening before this have closed
    end = newest_closed_end
    if request.until_ms is not None:
        end = min(end, -(-request.until_ms // step) * step)  # the bars opening before until
    if end <= start:
        raise ValidationError("until", "the range holds no closed bar (is --since before --until and now?)")
    key = (venue, symbol, timeframe)
    with _dataset_lock(store.path(*key)):
        stamps = _timestamps(store, key)
        stored = (stamps[0], stamps[-1]) if stamps else None
        segments = missing_segments(start, end, stored, step)
        progress = DownloadProgress(expected=sum((b - a) // step for a, b in segments))
        notes: list[str] = []
        if segments:
            options = client or PublicClientOptions()
            if options.retry is None:
                options = replace(options, retry=RetryPolicy(max_attempts=request.retries + 1))
            venue_client = make_public_client(
                capabilities, sandbox=request.sandbox, session_factory=session_factory, options=options
            )
            async with opened(venue_client):
                fetcher = _Fetcher(venue_client, store, progress, on_progress)
                await fetcher.prepare(symbol, timeframe)
                if on_progress is not None:
                    on_progress(progress)
                for a, b in segments:
                    await fetcher.segment(venue, symbol, timeframe, step, a, b)
                notes = fetcher.notes
        return _report(store, key, start, end, stored, progress, notes)


def _capabilities(request: DownloadRequest) -> VenueCapabilities:
    """The venue as the adapter knows it; refused before anything is locked or sent."""
    try:
        capabilities = public_capabilities(request.venue)
    except ValueError as error:
        raise ValidationError("venue", str(error)) from None
    if request.sandbox and not capabilities.sandbox:
        raise ValidationError("sandbox", f"{capabilities.name} has no sandbox or testnet")
    return capabilities


class _Fetcher:
    """One download's requests, a page at a time, each through the adapter's client."""

    def __init__(
        self,
        client: VenueClient,
        store: ParquetBarStore,
        progress: DownloadProgress,
        on_progress: Callable[[DownloadProgress], None] | None,
    ) -> None:
        self.client = client
        self.name = client.name
        self.store = store
        self.progress = progress
        self.on_progress = on_progress
        self.paging = client.capabilities.ohlcv
        self.notes: list[str] = []

    async def prepare(self, symbol: str, timeframe: str) -> None:
        await self.call("load_markets")
        exchange = self.client.exchange
        if symbol not in exchange.markets:
            raise DownloadError(f"{self.name} has no market {symbol}", self.progress)
        frames = getattr(exchange, "timeframes", None) or {}
        if timeframe not in frames:
            raise DownloadError(
                f"{self.name} has no {timeframe} bars (it serves {', '.join(frames)})", self.progress
            )

    async def call(self, operation: str, *args: Any) -> Any:
        """call_retrying() (budget, breaker, error mapping, retries), its attempts counted in progress."""
        before = self.client.requests
        try:
            result = await self.client.call_retrying(operation, *args)
        except VenueError as error:
            attempts = self._count(before)
            message = _describe(self.client, error, attempts)
            raise DownloadError(message, self.progress, transient=error.retryable) from error
        self._count(before)
        return result

    def _count(self, before: int) -> int:
        sent = self.client.requests - before  # requests refused by an open circuit were not sent
        self.progress.requests += sent
        self.progress.retries += max(0, sent - 1)
        return sent

    async def segment(self, venue: str, symbol: str, timeframe: str, step: int, start: int, end: int) -> None:
        """Fetch bars opening in [start, end), appending each page before asking for the next."""
        paging = self.paging
        since = start
        while since < end:
            params: dict[str, Any] = {}
            limit = paging.page_size
            window_end = end
            if paging.windowed:
                window_end = min(since + paging.page_size * step, end)
                limit = (window_end - since) // step
                params["until"] = window_end - 1
            rows = await self.call("fetch_ohlcv", symbol, timeframe, since, limit, params)
            page = _page(rows, since, window_end, step)
            if page:
                if not paging.windowed and page[0][0] > since:
                    # A venue with a history window starts where its window does: those slots never come.
                    self.progress.expected -= (page[0][0] - since) // step
                    if paging.history_bars is not None:
                        self.notes.append(
                            f"{self.name} serves only the last {paging.history_bars} intervals of "
                            f"OHLCV: its history starts at {_iso(page[0][0])}, bars before cannot be "
                            "downloaded from it"
                        )
                self._store(venue, symbol, timeframe, page)
            self.progress.pages += 1
            if self.on_progress is not None:
                self.on_progress(self.progress)
            if paging.windowed:
                since = max(window_end, page[-1][0] + step) if page else window_end
            elif page:
                since = page[-1][0] + step
            else:
                break

    def _store(self, venue: str, symbol: str, timeframe: str, page: list[list[Any]]) -> None:
        columns = {name: [row[i] for row in page] for i, name in enumerate(COLUMNS)}
        try:
            result = self.store.append(venue, symbol, timeframe, columns)
        except ValidationError as error:
            raise DownloadError(
                f"{self.name} sent a bar the store refuses: {error.field}: {error.message}",
                self.progress,
            ) from None
        self.progress.new_rows += result.new_rows
        if self.progress.first_new is None:
            self.progress.first_new = page[0][0]
        self.progress.last_new = page[-1][0]


def _page(rows: Any, since: int, end: int, step: int) -> list[list[Any]]:
    """The rows of one answer inside [since, end), on the grid, sorted, one per timestamp."""
    by_ts: dict[int, list[Any]] = {}
    for row in rows or ():
        if not isinstance(row, list | tuple) or len(row) < 6 or row[0] is None:
            continue
        ts = int(row[0])
        if since <= ts < end and ts % step == 0:
            by_ts[ts] = [ts, *row[1:6]]
    return [by_ts[ts] for ts in sorted(by_ts)]


def _report(
    store: ParquetBarStore,
    key: tuple[str, str, str],
    start: int,
    end: int,
    stored_before: tuple[int, int] | None,
    progress: DownloadProgress,
    notes: list[str],
) -> DownloadReport:
    venue, symbol, timeframe = key
    step = timeframe_ms(timeframe)
    stamps = _timestamps(store, key, start, end)
    first, last = (stamps[0], stamps[-1]) if stamps else (None, None)
    gaps, holes = gap_stats(pa.array(stamps, pa.int64()), timeframe)
    path = store.path(venue, symbol, timeframe)
    return DownloadReport(
        venue=venue,
        symbol=symbol,
        timeframe=timeframe,
        start_ms=start,
        end_ms=end,
        resumed_from=stored_before[1] if stored_before and start <= stored_before[1] < end else None,
        progress=progress,
        stored_rows=pq.ParquetFile(path).metadata.num_rows if path.exists() else 0,
        first_ts=first,
        last_ts=last,
        gaps=gaps,
        holes=holes,
        missing_before=((first if first is not None else end) - start) // step,
        missing_after=(end - step - last) // step if last is not None else 0,
        path=path,
        notes=tuple(notes),
    )


def _timestamps(
    store: ParquetBarStore, key: tuple[str, str, str], start: int | None = None, end: int | None = None
) -> list[int]:
    """The stored bar times in [start, end), read from the timestamp column alone."""
    path = store.path(*key)
    if not path.exists():
        return []
    filters = [("timestamp", ">=", start)] if start is not None else []
    filters += [("timestamp", "<", end)] if end is not None else []
    table = pq.read_table(path, columns=["timestamp"], filters=filters or None)
    stamps: list[int] = table.column("timestamp").to_pylist()
    return stamps


@contextlib.contextmanager
def _dataset_lock(target: Path) -> Iterator[None]:
    """One download per dataset at a time: two writers appending to one file would lose pages."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as for `data import`
        yield
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DownloadError(f"another download is writing {target}; wait for it to finish") from None
        yield


def _describe(client: VenueClient, error: VenueError, attempts: int) -> str:
    """One line from the adapter's error: what happened, with the venue's own words."""
    venue = client.name
    text = " ".join(error.detail.split())
    cause = f"{error.source}: {text}" if error.source else text
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(error, VenueCircuitOpen):
        snapshot = client.breaker.snapshot()
        return (
            f"{venue} did not answer: its circuit breaker opened after {snapshot.consecutive_failures} "
            f"failures in a row (last: {' '.join(snapshot.last_failure.split())})"
        )
    if isinstance(error, VenueUnavailable | VenueAmbiguous):
        return f"{venue} did not answer{tried} ({cause})"
    if isinstance(error, VenueRateLimited):
        banned = ", with a ban (HTTP 418)" if error.banned else ""
        return f"{venue} rate-limited the download{tried}{banned} ({cause})"
    if isinstance(error, VenueNotSupported):
        return f"{venue} does not offer this through ccxt ({text})"
    return f"{venue} refused the request ({cause})"


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000
