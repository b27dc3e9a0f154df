"""Public market data through the adapter: a client without an API key, behind budget, breaker and retries.

    async with opened(make_public_client(public_capabilities("binance"), sandbox=False)) as client:
        await client.load_markets()
        candles = await client.call_retrying("fetch_ohlcv", "BTC/USDT", "1m", since_ms, 1000, {})

The client is the adapter's `VenueClient`, built as `make_ccxt_venue` builds it, so every request
takes its weight from the venue's request budget (in process, or shared through Redis), passes the
circuit breaker, has its errors translated into our Venue* errors and is retried by the RetryPolicy.
Only the credentials differ: none (ccxt signs nothing, so only public endpoints can be called).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import MappingProxyType

from tradeforge.adapters.ccxt.breaker import BreakerConfig, CircuitBreaker
from tradeforge.adapters.ccxt.capabilities import (
    UNSUPPORTED,
    VENUES,
    AmendStyle,
    ClientIdFormat,
    ClientIdLookup,
    LookupStyle,
    OhlcvPaging,
    RateBudget,
    StopOrders,
    VenueCapabilities,
)
from tradeforge.adapters.ccxt.client import VenueClient
from tradeforge.adapters.ccxt.rate_limit import LocalTokenBucket, RedisTokenBucket, RequestBudget
from tradeforge.adapters.ccxt.retry import RetryPolicy
from tradeforge.adapters.ccxt.session import ExchangeHandle, ExchangeOptions, SessionFactory, VenueCredentials

# No key: ccxt's defaults are empty strings too, and redaction skips values this short.
NO_CREDENTIALS = VenueCredentials(api_key="", secret="")
DEFAULT_BUDGET_PREFIX = "tradeforge:budget"


def public_capabilities(venue_name: str) -> VenueCapabilities:
    """The adapter's capabilities for its venues; for another exchange ccxt knows, market-data-only
    ones (no order types) from what ccxt declares: its request pace as our budget, its fetchOHLCV
    limit as the page size, its testnet URL as the sandbox. ValueError for anything else."""
    key = venue_name.strip().lower()
    if key in UNSUPPORTED:
        raise ValueError(UNSUPPORTED[key])
    known = VENUES.get(key)
    if known is not None:
        return known
    import ccxt

    if key not in ccxt.exchanges:
        raise ValueError(f"{venue_name!r} is not an exchange ccxt knows")
    declared = getattr(ccxt, key)()  # the synchronous class: its declared settings, no request
    pace = 1000.0 / float(declared.rateLimit or 1000)  # rateLimit: ms between requests
    spot = (getattr(declared, "features", None) or {}).get("spot") or {}
    limit = (spot.get("fetchOHLCV") or {}).get("limit")
    return VenueCapabilities(
        name=key,
        ccxt_id=key,
        order_types=frozenset(),
        time_in_force=frozenset(),
        amend_style=AmendStyle.NATIVE,
        amendable=frozenset(),
        edit_returns_order_id=False,
        client_id=ClientIdFormat(re.compile(r"(?!)")),  # takes no orders
        lookup=ClientIdLookup(LookupStyle.OPEN_ORDERS, "clientOrderId"),
        stops=StopOrders(),
        trades_by_order_param=None,
        sandbox=bool((declared.urls or {}).get("test")),
        ccxt_options=MappingProxyType({}),
        budget=RateBudget(capacity=max(1.0, pace), refill_per_s=pace),
        ohlcv=OhlcvPaging(int(limit) if limit else OhlcvPaging().page_size),
    )


@dataclass(frozen=True, slots=True)
class PublicClientOptions:
    """How a public client is built (None: the adapter's defaults, as in make_ccxt_venue).

    redis_url: share the request budget with every process at
    `<redis_key_prefix>:<venue>:<live|sandbox>:public` (public data has no API key to tell apart);
    None keeps it in process. budget: replaces the venue's RateBudget."""

    redis_url: str | None = None
    redis_key_prefix: str = DEFAULT_BUDGET_PREFIX
    retry: RetryPolicy | None = None
    breaker: BreakerConfig | None = None
    budget: RateBudget | None = None
    exchange: ExchangeOptions | None = None


def make_public_client(
    capabilities: VenueCapabilities,
    *,
    sandbox: bool,
    session_factory: SessionFactory | None = None,
    options: PublicClientOptions | None = None,
) -> VenueClient:
    """A VenueClient without credentials, not opened yet (`opened`). ValueError when `sandbox` is
    asked of a venue without one. session_factory: as make_ccxt_venue's (None: ccxt's own session)."""
    options = options or PublicClientOptions()
    handle = ExchangeHandle(
        capabilities,
        NO_CREDENTIALS,
        sandbox=sandbox,
        options=options.exchange,
        session_factory=session_factory,
    )
    rates = options.budget or capabilities.budget
    request_budget: RequestBudget
    if options.redis_url is not None:
        environment = "sandbox" if sandbox else "live"
        key = f"{options.redis_key_prefix}:{capabilities.name}:{environment}:public"
        request_budget = RedisTokenBucket.from_url(options.redis_url, key, rates.capacity, rates.refill_per_s)
    else:
        request_budget = LocalTokenBucket(rates.capacity, rates.refill_per_s)
    circuit = CircuitBreaker(capabilities.name, options.breaker)
    retry = options.retry or RetryPolicy()
    return VenueClient(capabilities, handle, request_budget, circuit, retry, rates=rates)


@contextlib.asynccontextmanager
async def opened(client: VenueClient) -> AsyncIterator[VenueClient]:
    """The client, its exchange opened on the running loop; exchange, session and budget closed on exit."""
    try:
        await client.handle.open()
        yield client
    finally:
        await client.handle.close()
        await client.budget.close()
