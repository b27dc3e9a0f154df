"""make_ccxt_venue: the one place a CcxtVenue and its client, budget, breaker and retry policy are built."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from tradeforge.adapters.ccxt.breaker import BreakerConfig, CircuitBreaker
from tradeforge.adapters.ccxt.capabilities import RateBudget, capabilities_for
from tradeforge.adapters.ccxt.client import VenueClient
from tradeforge.adapters.ccxt.rate_limit import LocalTokenBucket, RedisTokenBucket, RequestBudget
from tradeforge.adapters.ccxt.retry import RetryPolicy
from tradeforge.adapters.ccxt.session import ExchangeHandle, ExchangeOptions, SessionFactory, VenueCredentials
from tradeforge.adapters.ccxt.venue import CcxtVenue, CcxtVenueConfig
from tradeforge.adapters.ccxt.workflow import RequestRefusal
from tradeforge.ports.clock import Clock


def make_ccxt_venue(
    venue_name: str,
    credentials: VenueCredentials,
    *,
    sandbox: bool,
    session_factory: SessionFactory | None = None,
    redis_url: str | None = None,
    redis_key_prefix: str = "tradeforge:budget",
    account_id: str = "main",
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
    breaker: BreakerConfig | None = None,
    budget: RateBudget | None = None,
    exchange: ExchangeOptions | None = None,
    config: CcxtVenueConfig | None = None,
    symbols: Iterable[str] | None = None,
    on_refusal: Callable[[RequestRefusal], None] | None = None,
    monotonic: Callable[[], float] | None = None,
) -> CcxtVenue:
    """A ready-to-start venue (call `await venue.start()` on the running loop, then bind it).

    venue_name: binance, bybit, okx or kraken (ftx: refused, the exchange closed in 2022).
    sandbox: the venue's testnet/demo (ValueError for kraken, which has none for spot).
    session_factory: builds the aiohttp session ccxt uses (None: ccxt's own).
    redis_url: share the request budget with every process using the same key (prefix, venue and
        a digest of the API key: budgets are per key at the venues); None keeps it in process.
    budget: replaces the venue's default RateBudget. monotonic: the clock of the breaker and the
        in-process bucket (tests). The other arguments are documented in docs/exchanges.md."""
    capabilities = capabilities_for(venue_name)
    handle = ExchangeHandle(
        capabilities, credentials, sandbox=sandbox, options=exchange, session_factory=session_factory
    )
    rates = budget or capabilities.budget
    request_budget: RequestBudget
    if redis_url is not None:
        key_digest = hashlib.sha256(credentials.api_key.encode()).hexdigest()[:12]
        environment = "sandbox" if sandbox else "live"
        key = f"{redis_key_prefix}:{capabilities.name}:{environment}:{key_digest}"
        request_budget = RedisTokenBucket.from_url(redis_url, key, rates.capacity, rates.refill_per_s)
    elif monotonic is not None:
        request_budget = LocalTokenBucket(rates.capacity, rates.refill_per_s, clock=monotonic)
    else:
        request_budget = LocalTokenBucket(rates.capacity, rates.refill_per_s)
    circuit = (
        CircuitBreaker(capabilities.name, breaker, monotonic)
        if monotonic is not None
        else CircuitBreaker(capabilities.name, breaker)
    )
    client = VenueClient(capabilities, handle, request_budget, circuit, retry or RetryPolicy(), rates=rates)
    return CcxtVenue(
        client, account_id=account_id, clock=clock, config=config, symbols=symbols, on_refusal=on_refusal
    )
