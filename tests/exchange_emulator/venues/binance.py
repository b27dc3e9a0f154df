"""Binance spot REST (api/v3) as ccxt 4.5.90 calls it, with HMAC-SHA256 query signing and Binance's errors.

Payload shapes follow ccxt's recorded fixtures (response/binance.json): numbers as strings with 8 decimals,
ids and times as integers. Signed requests: X-MBX-APIKEY header, `signature` = hex HMAC-SHA256 of the
query string followed by the body, without the signature itself; `timestamp` within `recvWindow`.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from decimal import Decimal
from typing import Any

from ..market import Instrument
from ..orders import Kind, NewOrder, Order, Reject, Rejected, Side, TimeInForce, VenueRules
from .base import (
    ApiRequest,
    ApiResponse,
    AuthFailure,
    Credentials,
    ErrorResponse,
    Handler,
    Venue,
    fmt,
    random_credentials,
)
from .binance_wire import ACCEPTED, CLIENT_ID, INTERVALS, MARKETS, cancel_json, err, order_json, trade_json


class Binance(Venue):
    name = "binance"
    hosts = {
        "api.binance.com": "live",
        "fapi.binance.com": "live",
        "dapi.binance.com": "live",
        "eapi.binance.com": "live",
        "papi.binance.com": "live",
        "testnet.binance.vision": "sandbox",
        "demo-api.binance.com": "demo",
    }
    environments = ("live", "sandbox", "demo")

    @classmethod
    def instruments(cls) -> dict[str, Instrument]:
        out = {}
        for info in MARKETS["symbols"]:
            filters = {f["filterType"]: f for f in info["filters"]}
            symbol = f"{info['baseAsset']}/{info['quoteAsset']}"
            out[symbol] = Instrument(
                symbol=symbol,
                venue_id=info["symbol"],
                base=info["baseAsset"],
                quote=info["quoteAsset"],
                tick=Decimal(filters["PRICE_FILTER"]["tickSize"]).normalize(),
                lot=Decimal(filters["LOT_SIZE"]["stepSize"]).normalize(),
                min_qty=Decimal(filters["LOT_SIZE"]["minQty"]).normalize(),
                min_notional=Decimal(filters["NOTIONAL"]["minNotional"]),
                maker_fee=Decimal("0.001"),
                taker_fee=Decimal("0.001"),
                level_qty=Decimal("0.5") if info["baseAsset"] == "BTC" else Decimal("5"),
            )
        return out

    @classmethod
    def rules(cls) -> VenueRules:
        return VenueRules(
            order_id=lambda seq: str(28_000_000_000 + seq),
            trade_id=lambda seq: str(3_500_000_000 + seq),
            reject_immediate_trigger=True,
        )

    @classmethod
    def make_credentials(cls, seed: str) -> Credentials:
        return random_credentials(
            seed, secret_alphabet=string.ascii_letters + string.digits, secret_len=64, key_len=64
        )

    def add(self, method: str, path: str, handler: Handler, *, private: bool) -> None:
        accepted = ACCEPTED[(method, path)]

        async def checked(request: ApiRequest) -> ApiResponse:
            sent = list(request.query) + list(request.form())
            unread = [name for name in sent if name not in accepted]
            if unread:
                read = len(sent) - len(unread)
                msg = (
                    f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '"
                    f"{len(sent)}'."
                )
                return err(400, -1104, msg)
            return await handler(request)

        super().add(method, path, checked, private=private)

    def register_routes(self) -> None:
        self.add("GET", "/api/v3/ping", self.ping, private=False)
        self.add("GET", "/api/v3/time", self.time, private=False)
        self.add("GET", "/api/v3/exchangeInfo", self.exchange_info, private=False)
        self.add("GET", "/api/v3/ticker/24hr", self.ticker, private=False)
        self.add("GET", "/api/v3/depth", self.depth, private=False)
        self.add("GET", "/api/v3/klines", self.klines, private=False)
        self.add("GET", "/api/v3/account", self.account, private=True)
        self.add("POST", "/api/v3/order", self.new_order, private=True)
        self.add("GET", "/api/v3/order", self.query_order, private=True)
        self.add("DELETE", "/api/v3/order", self.cancel_order, private=True)
        self.add("POST", "/api/v3/order/cancelReplace", self.cancel_replace, private=True)
        self.add("GET", "/api/v3/openOrders", self.open_orders, private=True)
        self.add("GET", "/api/v3/allOrders", self.all_orders, private=True)
        self.add("GET", "/api/v3/myTrades", self.my_trades, private=True)

    # ------------------------------------------------------------------ auth and errors
    def verify(self, request: ApiRequest) -> None:
        key = request.header("X-MBX-APIKEY")
        if key != self.credentials.api_key:
            raise AuthFailure(err(401, -2015, "Invalid API-key, IP, or permissions for action."), "api key")
        total = request.raw_query + request.body
        head, sep, signature = total.rpartition("signature=")
        if not sep or not signature:
            msg = "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            raise AuthFailure(err(400, -1102, msg), "no signature")
        payload = head[:-1] if head.endswith("&") else head
        expected = hmac.new(self.credentials.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.split("&")[0]):
            raise AuthFailure(err(400, -1022, "Signature for this request is not valid."), "signature")
        params = self.params(request)
        timestamp = int(params.get("timestamp", "0"))
        window = int(params.get("recvWindow", "5000"))
        server = request.received_ms
        if timestamp > server + 1000:
            msg = "Timestamp for this request was 1000ms ahead of the server's time."
            raise AuthFailure(err(400, -1021, msg), "timestamp ahead")
        if server - timestamp > window:
            msg = "Timestamp for this request is outside of the recvWindow."
            raise AuthFailure(err(400, -1021, msg), "recvWindow")

    def rejection(self, request: ApiRequest, error: Rejected) -> ApiResponse:
        reason = error.reason
        if reason is Reject.INSUFFICIENT_BALANCE:
            return err(400, -2010, "Account has insufficient balance for requested action.")
        if reason in (Reject.UNKNOWN_ORDER, Reject.ORDER_CLOSED):
            if request.method == "GET":
                return err(400, -2013, "Order does not exist.")
            return err(400, -2011, "Unknown order sent.")
        if reason is Reject.DUPLICATE_CLIENT_ID:
            return err(400, -2010, "Duplicate order sent.")
        if reason is Reject.BAD_QUANTITY:
            return err(400, -1013, "Filter failure: LOT_SIZE")
        if reason is Reject.BAD_PRICE:
            return err(400, -1013, "Filter failure: PRICE_FILTER")
        if reason is Reject.MIN_NOTIONAL:
            return err(400, -1013, "Filter failure: NOTIONAL")
        if reason is Reject.WOULD_TRIGGER:
            return err(400, -2010, "Stop price would trigger immediately.")
        if reason is Reject.WOULD_TAKE:
            return err(400, -2010, "Order would immediately match and take.")
        return err(400, -1013, str(error))

    def not_found(self, request: ApiRequest) -> ApiResponse:
        return ApiResponse(404, "<html><body><h2>404 Not found</h2></body></html>")

    def rate_limited(self, status: int, retry_after_s: int) -> ApiResponse:
        if status == 418:
            msg = "Way too much request weight used; IP banned until 1735689600000."
            return err(418, -1003, msg)
        msg = (
            "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
            "Please use WebSocket Streams for live updates to avoid polling the API."
        )
        return err(status, -1003, msg)

    # ------------------------------------------------------------------ helpers
    def params(self, request: ApiRequest) -> dict[str, str]:
        return {**request.query, **request.form()}

    def instrument(self, params: dict[str, str]) -> Instrument:
        symbol = params.get("symbol")
        instrument = self.state.instrument_by_venue_id(symbol or "")
        if instrument is None:
            raise ErrorResponse(err(400, -1121, "Invalid symbol."))
        return instrument

    def find_order(self, params: dict[str, str]) -> Order | None:
        instrument = self.instrument(params)
        order = self.state.find(params.get("orderId"), params.get("origClientOrderId"))
        return order if order is not None and order.symbol == instrument.symbol else None

    # ------------------------------------------------------------------ public
    async def ping(self, request: ApiRequest) -> ApiResponse:
        return ApiResponse(200, {})

    async def time(self, request: ApiRequest) -> ApiResponse:
        return ApiResponse(200, {"serverTime": request.received_ms})

    async def exchange_info(self, request: ApiRequest) -> ApiResponse:
        symbols = MARKETS["symbols"]
        wanted = request.query.get("symbol")
        if wanted:
            symbols = [s for s in symbols if s["symbol"] == wanted]
        return ApiResponse(
            200,
            {
                "timezone": "UTC",
                "serverTime": request.received_ms,
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 6000,
                    },
                    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
                ],
                "exchangeFilters": [],
                "symbols": symbols,
            },
        )

    async def ticker(self, request: ApiRequest) -> ApiResponse:
        instruments = (
            [self.instrument(request.query)]
            if "symbol" in request.query
            else list(self.state.instruments.values())
        )
        out = []
        for instrument in instruments:
            market, symbol = self.state.market, instrument.symbol
            day = market.day_stats(symbol)
            bid, ask = market.levels(symbol, "bids", 1)[0], market.levels(symbol, "asks", 1)[0]
            change = day.close - day.open
            out.append(
                {
                    "symbol": instrument.venue_id,
                    "priceChange": fmt(change, 8),
                    "priceChangePercent": fmt((change / day.open * 100).quantize(Decimal("0.001"))),
                    "weightedAvgPrice": fmt(
                        (day.quote_volume / day.volume).quantize(Decimal("1e-8"))
                        if day.volume
                        else day.close,
                        8,
                    ),
                    "prevClosePrice": fmt(day.open, 8),
                    "lastPrice": fmt(day.close, 8),
                    "lastQty": fmt(instrument.lot * 100, 8),
                    "bidPrice": fmt(bid[0], 8),
                    "bidQty": fmt(bid[1], 8),
                    "askPrice": fmt(ask[0], 8),
                    "askQty": fmt(ask[1], 8),
                    "openPrice": fmt(day.open, 8),
                    "highPrice": fmt(day.high, 8),
                    "lowPrice": fmt(day.low, 8),
                    "volume": fmt(day.volume, 8),
                    "quoteVolume": fmt(day.quote_volume, 8),
                    "openTime": request.received_ms - 86_400_000,
                    "closeTime": request.received_ms,
                    "firstId": 3_476_288_989,
                    "lastId": 3_476_288_989 + day.trades,
                    "count": day.trades,
                }
            )
        return ApiResponse(200, out[0] if "symbol" in request.query else out)

    async def depth(self, request: ApiRequest) -> ApiResponse:
        instrument = self.instrument(request.query)
        limit = min(int(request.query.get("limit", "100")), 5000)
        market = self.state.market
        return ApiResponse(
            200,
            {
                "lastUpdateId": 25_445_101 + len(self.state.fills),
                "bids": [[fmt(p, 8), fmt(q, 8)] for p, q in market.levels(instrument.symbol, "bids", limit)],
                "asks": [[fmt(p, 8), fmt(q, 8)] for p, q in market.levels(instrument.symbol, "asks", limit)],
            },
        )

    async def klines(self, request: ApiRequest) -> ApiResponse:
        params = request.query
        instrument = self.instrument(params)
        minutes = INTERVALS.get(params.get("interval", ""))
        if minutes is None:
            return err(400, -1120, "Invalid interval.")
        limit = min(int(params.get("limit", "500")), 1000)
        since = int(params["startTime"]) if "startTime" in params else None
        until = int(params["endTime"]) if "endTime" in params else None
        candles = self.state.market.candles(instrument.symbol, minutes, since, limit, until)
        width = minutes * 60_000
        return ApiResponse(
            200,
            [
                [
                    c.open_ms,
                    fmt(c.open, 8),
                    fmt(c.high, 8),
                    fmt(c.low, 8),
                    fmt(c.close, 8),
                    fmt(c.volume, 8),
                    c.open_ms + width - 1,
                    fmt(c.quote_volume, 8),
                    c.trades,
                    fmt(c.volume / 2, 8),
                    fmt(c.quote_volume / 2, 8),
                    "0",
                ]
                for c in candles
            ],
        )

    # ------------------------------------------------------------------ private
    async def account(self, request: ApiRequest) -> ApiResponse:
        balances = [
            {"asset": asset, "free": fmt(b.free, 8), "locked": fmt(b.locked, 8)}
            for asset, b in sorted(self.state.balances.items())
        ]
        return ApiResponse(
            200,
            {
                "makerCommission": 10,
                "takerCommission": 10,
                "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": {
                    "maker": "0.00100000",
                    "taker": "0.00100000",
                    "buyer": "0.00000000",
                    "seller": "0.00000000",
                },
                "canTrade": True,
                "canWithdraw": True,
                "canDeposit": True,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "preventSor": False,
                "updateTime": request.received_ms,
                "accountType": "SPOT",
                "balances": balances,
                "permissions": ["SPOT"],
                "uid": 365859102,
            },
        )

    def parse_new_order(self, params: dict[str, str]) -> NewOrder:
        instrument = self.instrument(params)
        order_type = params.get("type", "")
        side = Side(params.get("side", "").lower()) if params.get("side") in ("BUY", "SELL") else None
        if side is None:
            raise ErrorResponse(
                err(400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
            )
        kinds = {
            "MARKET": Kind.MARKET,
            "LIMIT": Kind.LIMIT,
            "LIMIT_MAKER": Kind.LIMIT,
            "STOP_LOSS": Kind.STOP_MARKET,
            "TAKE_PROFIT": Kind.STOP_MARKET,
            "STOP_LOSS_LIMIT": Kind.STOP_LIMIT,
            "TAKE_PROFIT_LIMIT": Kind.STOP_LIMIT,
        }
        info = next(s for s in MARKETS["symbols"] if s["symbol"] == instrument.venue_id)
        if order_type not in kinds or order_type not in info["orderTypes"]:
            raise ErrorResponse(err(400, -1116, "Invalid orderType."))
        cid = params.get("newClientOrderId")
        if cid is not None and not CLIENT_ID.match(cid):
            msg = (
                "Illegal characters found in parameter 'newClientOrderId'; "
                "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'."
            )
            raise ErrorResponse(err(400, -1100, msg))
        tif = (
            TimeInForce(params.get("timeInForce", "GTC"))
            if order_type != "LIMIT_MAKER"
            else TimeInForce.POST_ONLY
        )
        quote_qty = params.get("quoteOrderQty")
        return NewOrder(
            symbol=instrument.symbol,
            side=side,
            kind=kinds[order_type],
            quantity=Decimal(params["quantity"]) if "quantity" in params else None,
            price=Decimal(params["price"]) if "price" in params else None,
            client_order_id=cid or f"emu{len(self.state.orders) + 1:08d}",
            time_in_force=tif,
            trigger_price=Decimal(params["stopPrice"]) if "stopPrice" in params else None,
            take_profit=order_type.startswith("TAKE_PROFIT"),
            quote_quantity=Decimal(quote_qty) if quote_qty else None,
            extra={"type": order_type},
        )

    async def new_order(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        order = self.state.place(self.parse_new_order(params))
        default = "FULL" if order.kind in (Kind.MARKET, Kind.LIMIT) else "ACK"  # Binance's defaults
        resp_type = params.get("newOrderRespType", default)
        body = order_json(self.state, order, full=True)
        if resp_type == "ACK":
            body = {k: body[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId", "transactTime")}
        elif resp_type == "RESULT":
            body.pop("fills")
        return ApiResponse(200, body)

    async def query_order(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        if "orderId" not in params and "origClientOrderId" not in params:
            return err(
                400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        order = self.find_order(params)
        if order is None:
            return err(400, -2013, "Order does not exist.")
        return ApiResponse(200, order_json(self.state, order))

    async def cancel_order(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        order = self.find_order(params)
        if order is None or not order.is_open:
            return err(400, -2011, "Unknown order sent.")
        self.state.cancel(order.order_id)
        return ApiResponse(200, cancel_json(self.state, order, params, request.received_ms))

    async def cancel_replace(self, request: ApiRequest) -> ApiResponse:
        """Binance's only spot edit: cancel one order and place another (a new order id) in one request."""
        params = self.params(request)
        lookup = {
            "symbol": params.get("symbol", ""),
            "orderId": params.get("cancelOrderId", ""),
            "origClientOrderId": params.get("cancelOrigClientOrderId", ""),
        }
        lookup = {k: v for k, v in lookup.items() if v}
        old = self.find_order(lookup)
        new_request = self.parse_new_order(params)
        if old is None or not old.is_open:
            return ApiResponse(
                400,
                {
                    "code": -2022,
                    "msg": "Order cancel-replace failed.",
                    "data": {
                        "cancelResult": "FAILURE",
                        "newOrderResult": "NOT_ATTEMPTED",
                        "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
                        "newOrderResponse": None,
                    },
                },
            )
        self.state.cancel(old.order_id)
        cancel_body = cancel_json(self.state, old, {}, request.received_ms)
        try:
            new = self.state.place(new_request)
        except Rejected as error:
            failure = self.rejection(request, error).body
            return ApiResponse(
                409,
                {
                    "code": -2021,
                    "msg": "Order cancel-replace partially failed.",
                    "data": {
                        "cancelResult": "SUCCESS",
                        "newOrderResult": "FAILURE",
                        "cancelResponse": cancel_body,
                        "newOrderResponse": failure,
                    },
                },
            )
        new_body = order_json(self.state, new, full=True)
        new_body.pop("fills")
        return ApiResponse(
            200,
            {
                "cancelResult": "SUCCESS",
                "newOrderResult": "SUCCESS",
                "cancelResponse": cancel_body,
                "newOrderResponse": new_body,
            },
        )

    async def open_orders(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        symbol = None
        if "symbol" in params:
            symbol = self.instrument(params).symbol
        orders = sorted(self.state.open_orders(symbol), key=lambda o: o.seq)
        return ApiResponse(200, [order_json(self.state, o) for o in orders])

    async def all_orders(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        symbol = self.instrument(params).symbol
        orders = sorted((o for o in self.state.orders.values() if o.symbol == symbol), key=lambda o: o.seq)
        if "orderId" in params:
            orders = [o for o in orders if int(o.order_id) >= int(params["orderId"])]
        orders = _time_window(orders, params, lambda o: o.created_ms)
        limit = min(int(params.get("limit", "500")), 1000)
        orders = orders[:limit] if "orderId" in params or "startTime" in params else orders[-limit:]
        return ApiResponse(200, [order_json(self.state, o) for o in orders])

    async def my_trades(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        symbol = self.instrument(params).symbol
        fills = self.state.fills_for(symbol)
        if "orderId" in params:
            fills = [f for f in fills if f.order_id == params["orderId"]]
        if "fromId" in params:
            fills = [f for f in fills if int(f.trade_id) >= int(params["fromId"])]
        fills = _time_window(fills, params, lambda f: f.ts_ms)
        limit = min(int(params.get("limit", "500")), 1000)
        fills = fills[:limit] if "fromId" in params or "startTime" in params else fills[-limit:]
        return ApiResponse(200, [trade_json(self.state, f) for f in fills])


def _time_window(items: list[Any], params: dict[str, str], ts: Any) -> list[Any]:
    start = int(params.get("startTime", "0"))
    end = int(params["endTime"]) if "endTime" in params else None
    return [i for i in items if ts(i) >= start and (end is None or ts(i) <= end)]
