"""Topic names for strategy events, built like bus/topics.py so subscribers cannot drift apart."""

from __future__ import annotations

STRATEGIES = "events.strategy"


def strategy_event(kind: str) -> str:
    """kind: failed."""
    return f"{STRATEGIES}.{kind}"


FAILED = strategy_event("failed")
ALL_STRATEGY_EVENTS = f"{STRATEGIES}.*"

# Market data re-published by the runner to itself after the unit that matched it commits, so a
# strategy hears the fills a bar (or tick) caused before it hears the bar itself (see runner).
DATA_READY = "internal.strategies.data_ready"  # outside events.*: not an event anyone else hears
