"""Events about strategies themselves (not their orders), as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass

from tradeforge.domain.events import Event


# No slots=True: a slotted subclass would shadow the compiled base's fields (domain/events.py).
@dataclass(frozen=True)
class StrategyFailed(Event):
    """User code raised in `hook`: the strategy was stopped and its working orders cancelled."""

    strategy_id: str
    hook: str
    error: str
    cancelled_orders: int = 0
