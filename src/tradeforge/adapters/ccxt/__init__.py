"""ccxt venue adapter: binance, bybit, okx and kraken spot behind the Venue port (docs/exchanges.md)."""

from tradeforge.adapters.ccxt.breaker import BreakerConfig, BreakerSnapshot, BreakerState, CircuitBreaker
from tradeforge.adapters.ccxt.capabilities import VENUES, VenueCapabilities, capabilities_for
from tradeforge.adapters.ccxt.errors import (
    VenueAmbiguous,
    VenueAuthFailed,
    VenueCircuitOpen,
    VenueDuplicateClientId,
    VenueError,
    VenueInsufficientFunds,
    VenueInvalidOrder,
    VenueNotSupported,
    VenueOrderNotFound,
    VenueOrderRejected,
    VenueRateLimited,
    VenueRequestFailed,
    VenueUnavailable,
)
from tradeforge.adapters.ccxt.factory import make_ccxt_venue
from tradeforge.adapters.ccxt.rate_limit import LocalTokenBucket, RedisTokenBucket, RequestBudget
from tradeforge.adapters.ccxt.retry import RetryPolicy
from tradeforge.adapters.ccxt.session import ExchangeOptions, VenueCredentials
from tradeforge.adapters.ccxt.translate import VenueOrder, VenueTrade
from tradeforge.adapters.ccxt.venue import CcxtVenue, CcxtVenueConfig, VenueFill
from tradeforge.adapters.ccxt.workflow import RequestRefusal

__all__ = [
    "VENUES",
    "BreakerConfig",
    "BreakerSnapshot",
    "BreakerState",
    "CcxtVenue",
    "CcxtVenueConfig",
    "CircuitBreaker",
    "ExchangeOptions",
    "LocalTokenBucket",
    "RedisTokenBucket",
    "RequestBudget",
    "RequestRefusal",
    "RetryPolicy",
    "VenueAmbiguous",
    "VenueAuthFailed",
    "VenueCapabilities",
    "VenueCircuitOpen",
    "VenueCredentials",
    "VenueDuplicateClientId",
    "VenueError",
    "VenueFill",
    "VenueInsufficientFunds",
    "VenueInvalidOrder",
    "VenueNotSupported",
    "VenueOrder",
    "VenueOrderNotFound",
    "VenueOrderRejected",
    "VenueRateLimited",
    "VenueRequestFailed",
    "VenueTrade",
    "VenueUnavailable",
    "capabilities_for",
    "make_ccxt_venue",
]
