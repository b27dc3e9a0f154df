"""Strategy framework: the Strategy base, its context, the runner that hosts strategies, and the registry."""

from tradeforge.strategies.base import BarView, StateStore, Strategy, TickView
from tradeforge.strategies.context import OrderView, PositionView, StrategyContext
from tradeforge.strategies.events import StrategyFailed
from tradeforge.strategies.registry import StrategyInfo, available, resolve
from tradeforge.strategies.runner import StrategyRunner, StrategyStatus, StrategyStatusView

__all__ = [
    "BarView",
    "OrderView",
    "PositionView",
    "StateStore",
    "Strategy",
    "StrategyContext",
    "StrategyFailed",
    "StrategyInfo",
    "StrategyRunner",
    "StrategyStatus",
    "StrategyStatusView",
    "TickView",
    "available",
    "resolve",
]
