"""What differs between venues, as data: order types, amend style, client ids, lookups, options, budgets."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from tradeforge.domain.orders import OrderType, TimeInForce


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class ClientIdFormat:
    """Which client order ids the venue accepts. Ours (1-36 of [A-Za-z0-9._:-]) is sent as is when
    it fits `pattern`; otherwise as the first `digest_chars` hex digits of its SHA-256, a stable
    mapping, so a restarted process finds the order again from our id alone."""

    pattern: re.Pattern[str]
    digest_chars: int = 32

    def venue_id(self, client_order_id: str) -> str:
        if self.pattern.fullmatch(client_order_id):
            return client_order_id
        return hashlib.sha256(client_order_id.encode()).hexdigest()[: self.digest_chars]


class LookupStyle(StrEnum):
    """How to find an order from its client order id alone (docs/exchange-emulator.md, ccxt 4.5.90)."""

    FETCH_ORDER = "fetch_order"  # fetch_order(None, symbol, {param: cid})
    OPEN_ORDERS = "open_orders"  # fetch_open_orders(symbol, params={param: cid}): also recent closed ones
    OPEN_THEN_CLOSED = "open_then_closed"  # fetch_open_orders, then fetch_closed_orders, {param: cid}


@dataclass(frozen=True, slots=True)
class ClientIdLookup:
    style: LookupStyle
    param: str


class AmendStyle(StrEnum):
    NATIVE = "native"  # edit_order changes the order in place and keeps its id
    CANCEL_REPLACE = "cancel_replace"  # edit_order cancels it and places a new order (a new venue id)


@dataclass(frozen=True, slots=True)
class StopOrders:
    """price_param: the ccxt create_order param carrying the stop (trigger) price.
    untriggered_params: extra params to fetch, list or cancel a stop that has not triggered yet
    (bybit and okx keep those apart from ordinary orders).
    amend_price_param: the edit_order param for it (None: same as price_param)."""

    price_param: str = "triggerPrice"
    untriggered_params: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    amend_price_param: str | None = None

    @property
    def edit_param(self) -> str:
        return self.amend_price_param or self.price_param


@dataclass(frozen=True, slots=True)
class ErrorOverride:
    """A venue error ccxt maps wrongly (or not at all): when `needle` is in the message of an error
    raised by one of `operations` (None: any), it becomes our error of `kind` (errors.ERROR_KINDS)."""

    needle: str
    kind: str
    operations: frozenset[str] | None = None

    def applies(self, operation: str | None, message: str) -> bool:
        if self.operations is not None and operation not in self.operations:
            return False
        return self.needle in message


@dataclass(frozen=True, slots=True)
class RateBudget:
    """Our own request budget per venue (a token bucket): `capacity` tokens, refilled at
    `refill_per_s`; each operation costs its weight (default_weight when not listed). Figures follow
    the venues' published spot limits (binance: 6000 weight/min per IP; bybit: 20 req/s per UID for
    spot trading; okx: 60 req/2 s per endpoint; kraken: counter max 15, decays 0.33/s, with order
    entry on a separate per-pair limiter) and stay below them."""

    capacity: float
    refill_per_s: float
    weights: Mapping[str, float] = field(default_factory=lambda: _frozen({}))
    default_weight: float = 1.0

    def weight(self, operation: str) -> float:
        return float(self.weights.get(operation, self.default_weight))


@dataclass(frozen=True, slots=True)
class OhlcvPaging:
    """How the venue serves OHLCV history (fetch_ohlcv). page_size: most bars one request returns.
    windowed: requests carry an end bound (ccxt's `until`), so each page is one exact window and an
    empty window is a hole, not the end. history_bars: only the most recent N intervals are served."""

    page_size: int = 500
    windowed: bool = False
    history_bars: int | None = None


@dataclass(frozen=True, slots=True)
class VenueCapabilities:
    """Everything the adapter needs to know about one venue; code reads these, never the venue name.

    order_types / time_in_force: what we can send (GTD is always run by the adapter: it cancels at
    expire_at and reports the order expired). amendable: order types an amend may change.
    fetch_order_params: added to every fetch_order (bybit needs acknowledged=True).
    trades_by_order_param: the fetch_my_trades param naming one order, or None when the venue only
    lists trades by time (kraken: filter a time window). edit_returns_order_id: False when the id in
    ccxt's edit_order answer is not the order's (kraken returns the amend id).
    error_overrides: checked before ccxt's class (see ErrorOverride). ohlcv: how history pages."""

    name: str
    ccxt_id: str
    order_types: frozenset[OrderType]
    time_in_force: frozenset[TimeInForce]
    amend_style: AmendStyle
    amendable: frozenset[OrderType]
    edit_returns_order_id: bool
    client_id: ClientIdFormat
    lookup: ClientIdLookup
    stops: StopOrders
    trades_by_order_param: str | None
    sandbox: bool
    ccxt_options: Mapping[str, Any]
    budget: RateBudget
    fetch_order_params: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    error_overrides: tuple[ErrorOverride, ...] = ()
    ohlcv: OhlcvPaging = OhlcvPaging()

    def supports(self, order_type: OrderType) -> bool:
        return order_type in self.order_types


_ALL_TYPES = frozenset(OrderType)
_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_TIF = frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTD})

BINANCE = VenueCapabilities(
    name="binance",
    ccxt_id="binance",
    # BTCUSDT's orderTypes list has no STOP_LOSS, and ccxt refuses types the market does not list.
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT}),
    time_in_force=_TIF,
    amend_style=AmendStyle.CANCEL_REPLACE,  # POST api/v3/order/cancelReplace: a new order id
    amendable=_PRICED,
    edit_returns_order_id=True,
    client_id=ClientIdFormat(re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")),
    lookup=ClientIdLookup(LookupStyle.FETCH_ORDER, "origClientOrderId"),
    # ccxt 4.5.90's edit_spot_order reads triggerPrice but forwards it too, and binance refuses
    # the unread parameter (-1104); stopPrice is read and omitted.
    stops=StopOrders("triggerPrice", amend_price_param="stopPrice"),
    trades_by_order_param="orderId",
    sandbox=True,  # testnet.binance.vision
    ccxt_options=_frozen(
        {
            "options": {
                "fetchCurrencies": False,  # sapi/v1/capital/config/getall (signed)
                "fetchMargins": False,  # sapi/v1/margin/allPairs (twice), margin/isolated/allPairs
                "fetchMarkets": {"types": ["spot"]},  # fapi/dapi exchangeInfo
                "adjustForTimeDifference": False,  # api/v3/time
            }
        }
    ),
    budget=RateBudget(
        capacity=1200,
        refill_per_s=80,  # 4800 weight/min: a fifth under binance's 6000
        weights=_frozen(
            {
                "load_markets": 20,
                "fetch_balance": 20,
                "fetch_order": 4,
                "fetch_open_orders": 6,
                "fetch_closed_orders": 20,
                "fetch_my_trades": 20,
                "lookup": 4,
            }
        ),
    ),
    # After one good private call, binance's -2015 (bad key) arrives as DDoSProtection.
    error_overrides=(ErrorOverride("Invalid API-key", "auth_failed"),),
    ohlcv=OhlcvPaging(1000, windowed=True),  # api/v3/klines: limit <= 1000
)

BYBIT = VenueCapabilities(
    name="bybit",
    ccxt_id="bybit",
    order_types=_ALL_TYPES,
    time_in_force=_TIF,
    amend_style=AmendStyle.NATIVE,  # v5/order/amend
    amendable=_PRICED,
    edit_returns_order_id=True,
    client_id=ClientIdFormat(re.compile(r"[A-Za-z0-9_-]{1,36}")),
    # v5/order/realtime answers for any recent order named by orderLinkId, open or not; fetch_order
    # always sends orderId and cannot look up by client id alone.
    lookup=ClientIdLookup(LookupStyle.OPEN_ORDERS, "orderLinkId"),
    stops=StopOrders("triggerPrice", _frozen({"trigger": True})),  # orderFilter=StopOrder
    trades_by_order_param="orderId",
    sandbox=True,  # api-testnet.bybit.com
    ccxt_options=_frozen(
        {
            "has": {"fetchCurrencies": False},  # v5/asset/coin/query-info
            "options": {
                "fetchMarkets": {"types": ["spot"]},
                "enableUnifiedAccount": True,  # skips v5/user/query-api + v5/account/info
                "enableUnifiedMargin": False,
            },
        }
    ),
    budget=RateBudget(capacity=20, refill_per_s=10),
    fetch_order_params=_frozen({"acknowledged": True}),
    ohlcv=OhlcvPaging(1000, windowed=True),  # v5/market/kline: limit <= 1000
)

OKX = VenueCapabilities(
    name="okx",
    ccxt_id="okx",
    order_types=_ALL_TYPES,
    time_in_force=_TIF,
    amend_style=AmendStyle.NATIVE,  # api/v5/trade/amend-order
    amendable=frozenset({OrderType.LIMIT}),  # an untriggered stop is an algo order: amend-algos
    edit_returns_order_id=True,
    client_id=ClientIdFormat(re.compile(r"[A-Za-z0-9]{1,32}")),
    lookup=ClientIdLookup(LookupStyle.FETCH_ORDER, "clOrdId"),
    stops=StopOrders("triggerPrice", _frozen({"trigger": True})),  # trade/order-algo, ordType=trigger
    trades_by_order_param="ordId",
    sandbox=True,  # same hosts, x-simulated-trading: 1
    ccxt_options=_frozen(
        {"has": {"fetchCurrencies": False}, "options": {"fetchMarkets": {"types": ["spot"]}}}
    ),
    budget=RateBudget(capacity=60, refill_per_s=30),
    # ccxt reads anything older than 1,440 bars from history-candles, which returns at most 100 (the
    # newest of the window): a larger window would silently skip its older bars.
    ohlcv=OhlcvPaging(100, windowed=True),
)

KRAKEN = VenueCapabilities(
    name="kraken",
    ccxt_id="kraken",
    order_types=_ALL_TYPES,
    time_in_force=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.GTD}),
    amend_style=AmendStyle.NATIVE,  # 0/private/AmendOrder
    amendable=_PRICED,
    edit_returns_order_id=False,  # ccxt returns AmendOrder's amend_id as the id
    client_id=ClientIdFormat(re.compile(r"[a-z0-9]{1,18}|[0-9a-f]{32}")),
    # fetch_order sends a client id as userref (an integer on kraken) and needs the txid anyway.
    lookup=ClientIdLookup(LookupStyle.OPEN_THEN_CLOSED, "clientOrderId"),
    stops=StopOrders("stopLossPrice"),  # stop-loss / stop-loss-limit
    trades_by_order_param=None,  # TradesHistory lists by time only
    sandbox=False,  # kraken spot has no sandbox
    ccxt_options=_frozen({"has": {"fetchCurrencies": False}}),  # 0/public/Assets
    budget=RateBudget(
        capacity=15,
        refill_per_s=0.33,
        weights=_frozen(
            {
                "create_order": 0,  # order entry has its own per-pair limiter, not the REST counter
                "cancel_order": 0,
                "edit_order": 0,
                "fetch_my_trades": 2,
                "fetch_closed_orders": 2,
            }
        ),
    ),
    error_overrides=(
        ErrorOverride("EAPI:Invalid signature", "auth_failed"),  # not in ccxt's map: ExchangeError
        ErrorOverride("EAPI:Invalid key", "auth_failed"),
        ErrorOverride("EOrder:Unknown order", "order_not_found"),  # ccxt: InvalidOrder but in cancel
        # QueryOrders answers an unknown txid with "Invalid order" (ccxt: InvalidOrder)
        ErrorOverride("EOrder:Invalid order", "order_not_found", frozenset({"fetch_order"})),
        ErrorOverride("EOrder:Insufficient funds", "insufficient_funds"),
    ),
    # OHLC returns everything from `since` to now, at most the last 720 intervals; it takes no end bound.
    ohlcv=OhlcvPaging(720, history_bars=720),
)

VENUES: Mapping[str, VenueCapabilities] = MappingProxyType(
    {caps.name: caps for caps in (BINANCE, BYBIT, OKX, KRAKEN)}
)
UNSUPPORTED: Mapping[str, str] = MappingProxyType(
    {"ftx": "FTX is not supported: the exchange closed in November 2022"}
)


def capabilities_for(venue: str) -> VenueCapabilities:
    key = venue.strip().lower()
    if key in UNSUPPORTED:
        raise ValueError(UNSUPPORTED[key])
    try:
        return VENUES[key]
    except KeyError:
        raise ValueError(f"unsupported venue {venue!r}; supported: {sorted(VENUES)}") from None
