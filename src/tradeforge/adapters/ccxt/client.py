"""One venue's ccxt exchange behind our budget, breaker, retries and error mapping, with per-venue queries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from tradeforge.adapters.ccxt.breaker import BreakerState, CircuitBreaker
from tradeforge.adapters.ccxt.capabilities import LookupStyle, RateBudget, VenueCapabilities
from tradeforge.adapters.ccxt.errors import (
    VenueCircuitOpen,
    VenueError,
    VenueOrderNotFound,
    VenueRateLimited,
    map_exception,
    retry_after_seconds,
)
from tradeforge.adapters.ccxt.rate_limit import RequestBudget
from tradeforge.adapters.ccxt.retry import BackoffSource, RetryPolicy
from tradeforge.adapters.ccxt.session import ExchangeHandle

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
RawOrder = dict[str, Any]

# A 429 without Retry-After still pauses everyone sharing the budget this long.
DEFAULT_RATE_LIMIT_PAUSE_S = 1.0
# kraken lists trades 50 to a page, newest first; "ofs" pages back.
_TRADE_PAGE = 50
_MAX_TRADE_PAGES = 20


class VenueClient:
    """Every request goes through `call`: breaker gate, budget, ccxt, error mapping, breaker
    accounting, and a shared pause on 429/418. `call_retrying` adds the retry policy and is used
    for requests that are safe to repeat (reads, cancels); creates have their own rules."""

    def __init__(
        self,
        capabilities: VenueCapabilities,
        handle: ExchangeHandle,
        budget: RequestBudget,
        breaker: CircuitBreaker,
        retry: RetryPolicy,
        *,
        rates: RateBudget | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.capabilities = capabilities
        self.rates = rates or capabilities.budget
        self.name = capabilities.name
        self.handle = handle
        self.budget = budget
        self.breaker = breaker
        self.retry = retry
        self.backoffs: BackoffSource = retry.source()
        self._sleep = sleep
        self.requests = 0
        self.errors: dict[str, int] = {}

    @property
    def exchange(self) -> Any:
        if self.handle.exchange is None:
            raise VenueCircuitOpen(self.name, "not connected (call start() first)")
        return self.handle.exchange

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)

    # --- the one door to the venue -----------------------------------------------------------
    async def call(self, operation: str, *args: Any, probe: bool = False) -> Any:
        breaker = self.breaker
        if not breaker.allow(probe):
            state = breaker.state
            label = "half-open, probing" if state is BreakerState.HALF_OPEN else state.value
            raise VenueCircuitOpen(self.name, f"unavailable: circuit {label}")
        exchange = self.exchange
        try:
            await self.budget.acquire(self.rates.weight(operation))
            self.requests += 1
            result = await getattr(exchange, operation)(*args)
        except asyncio.CancelledError:
            breaker.release_probe()
            raise
        except Exception as raw:
            error = self._translate(raw, exchange, operation)
            self.errors[error.kind] = self.errors.get(error.kind, 0) + 1
            if error.trips_breaker:
                breaker.record_failure(f"{operation}: {error.detail}")
            elif isinstance(error, VenueRateLimited):
                breaker.release_probe()
                pause = error.retry_after_s
                await self.budget.pause(DEFAULT_RATE_LIMIT_PAUSE_S if pause is None else pause)
            else:
                breaker.record_success()  # the venue answered: it is up, the request was wrong
            raise error from raw
        breaker.record_success()
        return result

    def _translate(self, raw: Exception, exchange: Any, operation: str) -> VenueError:
        retry_after = None
        text = str(raw)
        if "RateLimit" in type(raw).__name__ or "DDoS" in type(raw).__name__:
            # ccxt stores the failed answer's headers before raising; nothing ran in between.
            retry_after = retry_after_seconds(getattr(exchange, "last_response_headers", None))
        status = 418 if (" 418 " in text or "banned" in text.lower()) else None
        return map_exception(
            self.name,
            raw,
            overrides=self.capabilities.error_overrides,
            operation=operation,
            status=status,
            retry_after_s=retry_after,
            redact=self.handle.redact,
        )

    async def call_retrying(self, operation: str, *args: Any) -> Any:
        """call() again after transient failures (timeouts too: only for requests safe to repeat)."""
        backoff = self.backoffs.backoff()
        while True:
            try:
                return await self.call(operation, *args)
            except VenueError as error:
                delay = backoff.next_delay(error.retry_after_s) if error.retryable else None
                if delay is None:
                    raise
                logger.info("%s %s failed (%s); retrying in %.2fs", self.name, operation, error, delay)
                await self._sleep(delay)

    # --- per-venue queries, driven by capabilities --------------------------------------------
    def _variants(self, stop: bool, stop_first: bool = True) -> list[dict[str, Any]]:
        """Param sets to try for an order: an untriggered stop may live apart (bybit, okx). A stop
        that may have triggered is looked for as an ordinary order first (stop_first=False)."""
        extra = dict(self.capabilities.stops.untriggered_params)
        if not (stop and extra):
            return [{}]
        return [extra, {}] if stop_first else [{}, extra]

    async def create_order(
        self,
        symbol: str,
        kind: str,
        side: str,
        amount: Decimal,
        price: Decimal | None,
        params: Mapping[str, Any],
    ) -> RawOrder:
        result = await self.call(
            "create_order", symbol, kind, side, float(amount), _float(price), dict(params)
        )
        return dict(result)

    async def edit_order(
        self,
        venue_order_id: str,
        symbol: str,
        kind: str,
        side: str,
        amount: Decimal,
        price: Decimal | None,
        params: Mapping[str, Any],
    ) -> RawOrder:
        result = await self.call(
            "edit_order", venue_order_id, symbol, kind, side, float(amount), _float(price), dict(params)
        )
        return dict(result)

    async def fetch_order(self, venue_order_id: str, symbol: str, stop: bool = False) -> RawOrder:
        base = dict(self.capabilities.fetch_order_params)
        last: VenueOrderNotFound | None = None
        for variant in self._variants(stop, stop_first=False):
            try:
                result = await self.call_retrying("fetch_order", venue_order_id, symbol, {**base, **variant})
                return dict(result)
            except VenueOrderNotFound as error:
                last = error
        assert last is not None
        raise last

    async def cancel_order(self, venue_order_id: str, symbol: str, stop: bool = False) -> None:
        last: VenueOrderNotFound | None = None
        for variant in self._variants(stop):
            try:
                await self.call_retrying("cancel_order", venue_order_id, symbol, variant)
                return
            except VenueOrderNotFound as error:
                last = error
        assert last is not None
        raise last

    async def open_orders(self, symbol: str | None) -> list[RawOrder]:
        seen: dict[str, RawOrder] = {}
        for variant in self._variants(True):
            for order in await self.call_retrying("fetch_open_orders", symbol, None, None, variant):
                seen.setdefault(str(order["id"]), dict(order))
        return list(seen.values())

    async def find_by_client_id(self, symbol: str, venue_client_id: str, stop: bool) -> RawOrder | None:
        """The newest order carrying venue_client_id, or None when the venue provably has none.
        Raises VenueError when the venue cannot be asked (then nothing is proven)."""
        lookup = self.capabilities.lookup
        for variant in self._variants(stop):
            params = {lookup.param: venue_client_id, **variant}
            if lookup.style is LookupStyle.FETCH_ORDER:
                try:
                    base = dict(self.capabilities.fetch_order_params)
                    found = await self.call_retrying("fetch_order", None, symbol, {**base, **params})
                    return dict(found)
                except VenueOrderNotFound:
                    continue
            methods = ["fetch_open_orders"]
            if lookup.style is LookupStyle.OPEN_THEN_CLOSED:
                methods.append("fetch_closed_orders")
            for method in methods:
                orders: list[RawOrder] = await self.call_retrying(method, symbol, None, None, dict(params))
                named = [o for o in orders if o.get("clientOrderId") == venue_client_id]
                if named:
                    newest: RawOrder = max(named, key=_timestamp)
                    return newest
        return None

    async def order_trades(self, venue_order_id: str, symbol: str, since_ms: int | None) -> list[RawOrder]:
        param = self.capabilities.trades_by_order_param
        if param is not None:
            trades = await self.call_retrying("fetch_my_trades", symbol, None, None, {param: venue_order_id})
        else:
            trades = await self.trades_since(symbol, since_ms)
        return [dict(t) for t in trades if str(t.get("order")) == venue_order_id]

    async def trades_since(self, symbol: str, since_ms: int | None) -> list[RawOrder]:
        """Own trades of `symbol` since `since_ms`, oldest first. Venues that page by offset (kraken:
        50 a page, newest first, every pair) are read page by page for all pairs, then filtered."""
        if self.capabilities.trades_by_order_param is not None:
            trades = list(await self.call_retrying("fetch_my_trades", symbol, since_ms, None, {}))
        else:
            trades = []
            offset = 0
            for _ in range(_MAX_TRADE_PAGES):
                params = {"ofs": offset} if offset else {}
                page = await self.call_retrying("fetch_my_trades", None, since_ms, None, params)
                trades.extend(t for t in page if t.get("symbol") == symbol)
                offset += len(page)
                if len(page) < _TRADE_PAGE:
                    break
        unique = {str(t["id"]): dict(t) for t in trades}
        return sorted(unique.values(), key=lambda t: (t.get("timestamp") or 0, str(t["id"])))

    async def balance(self, probe: bool = False) -> dict[str, Any]:
        if probe:
            return dict(await self.call("fetch_balance", probe=True))
        return dict(await self.call_retrying("fetch_balance"))

    async def load_markets(self) -> dict[str, Any]:
        return dict(await self.call_retrying("load_markets"))


def _timestamp(order: RawOrder) -> int:
    return int(order.get("timestamp") or 0)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
