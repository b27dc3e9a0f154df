"""Paper exchange: a simulated venue with a bar-driven matching engine, for paper trading and backtests."""

from tradeforge.adapters.paper.accounts import AccountBook
from tradeforge.adapters.paper.slippage import FixedBps, NoSlippage, SlippageModel, VolumeShareSlippage
from tradeforge.adapters.paper.venue import PaperVenue, PaperVenueConfig

__all__ = [
    "AccountBook",
    "FixedBps",
    "NoSlippage",
    "PaperVenue",
    "PaperVenueConfig",
    "SlippageModel",
    "VolumeShareSlippage",
]
