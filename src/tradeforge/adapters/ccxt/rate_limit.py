"""Per-venue request budget: a token bucket in process, or shared across processes through Redis."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Sleep = Callable[[float], Awaitable[None]]


class RequestBudget(Protocol):
    """Every request to a venue first takes its weight from the venue's budget."""

    async def acquire(self, weight: float) -> None:
        """Wait until `weight` tokens are available and take them."""
        ...

    async def try_acquire(self, weight: float) -> float:
        """Take `weight` tokens if available now and return 0, else return the seconds to wait."""
        ...

    async def pause(self, seconds: float) -> None:
        """Nobody sharing this budget sends anything for `seconds` (a 429 with Retry-After, a ban)."""
        ...

    def remaining(self) -> float:
        """Tokens left as last seen (for metrics)."""
        ...

    async def close(self) -> None: ...


class LocalTokenBucket:
    """A token bucket for one process. `clock` is monotonic seconds (injectable for tests)."""

    def __init__(
        self,
        capacity: float,
        refill_per_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if capacity <= 0 or refill_per_s <= 0:
            raise ValueError("capacity and refill_per_s must be positive")
        self.capacity = float(capacity)
        self.refill_per_s = float(refill_per_s)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)
        self._stamp = clock()
        self._paused_until = 0.0

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.refill_per_s)
        self._stamp = now
        return now

    async def try_acquire(self, weight: float) -> float:
        now = self._refill()
        if self._paused_until > now:
            return self._paused_until - now
        weight = min(weight, self.capacity)
        if self._tokens >= weight:
            self._tokens -= weight
            return 0.0
        return (weight - self._tokens) / self.refill_per_s

    async def acquire(self, weight: float) -> None:
        if weight <= 0:
            return
        while True:
            wait = await self.try_acquire(weight)
            if wait <= 0:
                return
            await self._sleep(wait)

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def remaining(self) -> float:
        self._refill()
        return self._tokens

    async def close(self) -> None:
        return None


# One atomic step on the shared bucket, on the Redis server's clock (processes' clocks may differ).
# KEYS[1]: the bucket hash. ARGV: capacity, refill per second, weight, pause ms (0: no pause).
# Returns {wait in ms (0: granted), tokens left as a string}.
_BUCKET_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local weight = tonumber(ARGV[3])
local pause_ms = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'paused_until')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
local paused_until = tonumber(state[3]) or 0
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
end
if pause_ms > 0 then
  paused_until = math.max(paused_until, now + pause_ms)
end
local wait = 0
if paused_until > now then
  wait = paused_until - now
elseif weight > 0 then
  if weight > capacity then weight = capacity end
  if tokens >= weight then
    tokens = tokens - weight
  else
    wait = math.ceil((weight - tokens) * 1000 / rate)
  end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(math.max(now, ts)),
           'paused_until', tostring(paused_until))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 60000)
return {wait, tostring(tokens)}
"""


class RedisTokenBucket:
    """The same bucket, kept in Redis under `key` so that every process using that key shares it.

    The script runs atomically on the server and uses the server's clock, so processes on different
    hosts agree. Budgets are per API key/IP at the venues: give each account its own key."""

    def __init__(
        self,
        redis: Any,
        key: str,
        capacity: float,
        refill_per_s: float,
        *,
        sleep: Sleep = asyncio.sleep,
        owns_client: bool = False,
    ) -> None:
        if capacity <= 0 or refill_per_s <= 0:
            raise ValueError("capacity and refill_per_s must be positive")
        self.key = key
        self.capacity = float(capacity)
        self.refill_per_s = float(refill_per_s)
        self._redis = redis
        self._script = redis.register_script(_BUCKET_SCRIPT)
        self._sleep = sleep
        self._owns_client = owns_client
        self._remaining = float(capacity)

    @classmethod
    def from_url(cls, url: str, key: str, capacity: float, refill_per_s: float) -> RedisTokenBucket:
        import redis.asyncio as redis_asyncio

        client = redis_asyncio.Redis.from_url(url)
        return cls(client, key, capacity, refill_per_s, owns_client=True)

    async def _step(self, weight: float, pause_s: float = 0.0) -> float:
        pause_ms = math.ceil(pause_s * 1000) if pause_s > 0 else 0
        wait_ms, tokens = await self._script(
            keys=[self.key], args=[repr(self.capacity), repr(self.refill_per_s), repr(weight), pause_ms]
        )
        self._remaining = float(tokens)
        return float(wait_ms) / 1000

    async def try_acquire(self, weight: float) -> float:
        return await self._step(weight)

    async def acquire(self, weight: float) -> None:
        if weight <= 0:
            return
        while True:
            wait = await self._step(weight)
            if wait <= 0:
                return
            await self._sleep(wait)

    async def pause(self, seconds: float) -> None:
        await self._step(0.0, seconds)

    async def refresh(self) -> float:
        """Read the shared level without taking anything."""
        await self._step(0.0)
        return self._remaining

    def remaining(self) -> float:
        return self._remaining

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()
