"""Topic names for strategy events, built like bus/topics.py so subscribers cannot drift apart."""

from __future__ import annotations

STRATEGIES = "events.strategy"


def strategy_event(kind: str) -> str:
    """kind: failed."""
    return f"{STRATEGIES}.{kind}"


FAILED = strategy_event("failed")
ALL_STRATEGY_EVENTS = f"{STRATEGIES}.*"
