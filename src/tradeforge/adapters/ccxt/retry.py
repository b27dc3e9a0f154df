"""Retry policy: exponential backoff with jitter, honouring Retry-After, deterministic under a seed."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """max_attempts counts the first try: 4 means at most 3 retries.

    The n-th delay (n = 0, 1, ...) is base_delay_s * multiplier**n capped at max_delay_s, of which the
    share `jitter` is randomised ("equal jitter": delay * (1 - jitter) + U(0, delay * jitter)), so
    many clients do not retry in step. A venue's Retry-After is a floor. With a seed every Backoff
    the policy hands out draws from one generator seeded with it, so a test sees the same delays."""

    max_attempts: int = 4
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    multiplier: float = 2.0
    jitter: float = 0.5
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s:
            raise ValueError("need 0 <= base_delay_s <= max_delay_s")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be within [0, 1]")

    def source(self) -> BackoffSource:
        return BackoffSource(self)


class BackoffSource:
    """Hands out one Backoff per operation; all draw from the same (optionally seeded) generator."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self._rng = random.Random(policy.seed) if policy.seed is not None else random.Random()

    def backoff(self) -> Backoff:
        return Backoff(self.policy, self._rng)


class Backoff:
    """The retry schedule of one operation."""

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self._policy = policy
        self._rng = rng
        self.attempts = 1  # the first try is made before asking for a delay

    @property
    def exhausted(self) -> bool:
        return self.attempts >= self._policy.max_attempts

    def next_delay(self, retry_after_s: float | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None when no attempt is left."""
        policy = self._policy
        if self.exhausted:
            return None
        raw = min(policy.max_delay_s, policy.base_delay_s * policy.multiplier ** (self.attempts - 1))
        delay = raw * (1 - policy.jitter) + self._rng.uniform(0, raw * policy.jitter)
        self.attempts += 1
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return delay
