"""The aiohttp session a venue's ccxt instance talks through: ccxt's own settings, every request timed.

make_ccxt_venue's `session_factory` is the adapter's one transport seam. The service always uses it:
a session built as ccxt builds its own (certifi's CA bundle, dual-stack with happy eyeballs) plus
an aiohttp trace that times each HTTP request (until the response headers) and counts transport
failures, for the per-venue latency histogram in /metrics. With the test/dev override
(TRADEFORGE_CCXT_RESOLVE + TRADEFORGE_CCXT_CA_FILE, `transport_override_from_env`) the same
session resolves exchange hostnames to the listed addresses and trusts only the given CA; ccxt
keeps its production URLs either way.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace

import aiohttp

from tradeforge.adapters.ccxt.override import StaticResolver, TransportOverride

# Seconds; exchange round trips are milliseconds to seconds (ccxt's default timeout is 10 s).
LATENCY_BUCKETS_S: tuple[float, ...] = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestStats:
    """One venue's HTTP requests as the transport saw them: a latency histogram (per-bucket
    counts, the last bucket is +Inf), the sum of latencies, and failures by exception type.
    Written on the venue's loop, read at scrape time (ints and floats: no torn values)."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.count = 0
        self.total_s = 0.0
        self.failures: Counter[str] = Counter()

    def observe(self, seconds: float) -> None:
        index = len(self.buckets)
        for i, bound in enumerate(self.buckets):
            if seconds <= bound:
                index = i
                break
        self.counts[index] += 1
        self.count += 1
        self.total_s += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, requests at or below it) pairs, ending with +Inf, as Prometheus wants."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip((*map(str, self.buckets), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


def _trace(stats: RequestStats) -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()

    async def started(
        _session: aiohttp.ClientSession, context: SimpleNamespace, _params: aiohttp.TraceRequestStartParams
    ) -> None:
        context.started = time.perf_counter()

    async def ended(
        _session: aiohttp.ClientSession, context: SimpleNamespace, _params: aiohttp.TraceRequestEndParams
    ) -> None:
        stats.observe(time.perf_counter() - context.started)

    async def failed(
        _session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestExceptionParams,
    ) -> None:
        stats.failures[type(params.exception).__name__] += 1
        stats.observe(time.perf_counter() - context.started)

    trace.on_request_start.append(started)
    trace.on_request_end.append(ended)
    trace.on_request_exception.append(failed)
    return trace


def venue_session_factory(
    stats: RequestStats, override: TransportOverride | None = None
) -> Callable[[], aiohttp.ClientSession]:
    """A `session_factory` for make_ccxt_venue (called on the venue's loop; the adapter closes it)."""
    trace = _trace(stats)

    def make() -> aiohttp.ClientSession:
        connector: aiohttp.TCPConnector
        if override is not None:
            context = ssl.create_default_context(cafile=str(override.ca_file))  # this CA only
            connector = aiohttp.TCPConnector(
                resolver=StaticResolver(override.resolve), ssl=context, family=socket.AF_INET
            )
        else:
            import certifi

            # What ccxt's Exchange.open() builds when it makes its own session.
            context = ssl.create_default_context(cafile=certifi.where())
            connector = aiohttp.TCPConnector(
                ssl=context, enable_cleanup_closed=True, family=socket.AF_UNSPEC, happy_eyeballs_delay=0
            )
        return aiohttp.ClientSession(connector=connector, trace_configs=[trace])

    return make
