"""Bybit v5 spot on a unified trading account, as ccxt 4.5.90 calls it, with X-BAPI-* HMAC signing.

Signed requests carry X-BAPI-API-KEY, X-BAPI-TIMESTAMP, X-BAPI-RECV-WINDOW and X-BAPI-SIGN = hex
HMAC-SHA256(timestamp + api key + recv window + (query string | JSON body)). Every answer is the v5 envelope
{"retCode", "retMsg", "result", "retExtInfo", "time"}; errors are non-zero retCodes with HTTP 200, auth errors
HTTP 401. Lists come newest first (orders, executions, klines), as Bybit sends them.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from decimal import Decimal
from typing import Any

from ..market import Instrument
from ..orders import Kind, NewOrder, Order, Reject, Rejected, Side, Status, TimeInForce, VenueRules
from .base import (
    ApiRequest,
    ApiResponse,
    AuthFailure,
    Credentials,
    ErrorResponse,
    Venue,
    fmt,
    random_credentials,
)
from .bybit_wire import INTERVALS, MARKETS, envelope, exec_json, order_json


class Bybit(Venue):
    name = "bybit"
    hosts = {"api.bybit.com": "live", "api-testnet.bybit.com": "sandbox", "api-demo.bybit.com": "demo"}
    environments = ("live", "sandbox", "demo")

    @classmethod
    def instruments(cls) -> dict[str, Instrument]:
        out = {}
        for info in MARKETS["list"]:
            lot = info["lotSizeFilter"]
            symbol = f"{info['baseCoin']}/{info['quoteCoin']}"
            out[symbol] = Instrument(
                symbol=symbol,
                venue_id=info["symbol"],
                base=info["baseCoin"],
                quote=info["quoteCoin"],
                tick=Decimal(info["priceFilter"]["tickSize"]),
                lot=Decimal(lot["basePrecision"]),
                min_qty=Decimal(lot["minOrderQty"]),
                min_notional=Decimal(lot["minOrderAmt"]),
                maker_fee=Decimal("0.001"),
                taker_fee=Decimal("0.001"),
                level_qty=Decimal("0.5") if info["baseCoin"] == "BTC" else Decimal("5"),
            )
        return out

    @classmethod
    def rules(cls) -> VenueRules:
        return VenueRules(
            order_id=lambda seq: str(1_900_000_000_000_000_000 + seq),
            trade_id=lambda seq: f"2100000000{seq:09d}",
            client_id_scope="all",
        )

    @classmethod
    def make_credentials(cls, seed: str) -> Credentials:
        return random_credentials(
            seed, secret_alphabet=string.ascii_letters + string.digits, secret_len=36, key_len=18
        )

    def register_routes(self) -> None:
        self.add("GET", "/v5/market/time", self.server_time, private=False)
        self.add("GET", "/v5/market/instruments-info", self.instruments_info, private=False)
        self.add("GET", "/v5/market/tickers", self.tickers, private=False)
        self.add("GET", "/v5/market/orderbook", self.orderbook, private=False)
        self.add("GET", "/v5/market/kline", self.kline, private=False)
        self.add("GET", "/v5/account/wallet-balance", self.wallet_balance, private=True)
        self.add("POST", "/v5/order/create", self.create, private=True)
        self.add("POST", "/v5/order/amend", self.amend, private=True)
        self.add("POST", "/v5/order/cancel", self.cancel, private=True)
        self.add("GET", "/v5/order/realtime", self.realtime, private=True)
        self.add("GET", "/v5/order/history", self.history, private=True)
        self.add("GET", "/v5/execution/list", self.executions, private=True)

    # ------------------------------------------------------------------ auth and errors
    def verify(self, request: ApiRequest) -> None:
        now = request.received_ms
        key = request.header("X-BAPI-API-KEY")
        timestamp = request.header("X-BAPI-TIMESTAMP") or ""
        window = request.header("X-BAPI-RECV-WINDOW") or "5000"
        signature = request.header("X-BAPI-SIGN") or ""
        if key != self.credentials.api_key:
            raise AuthFailure(envelope({}, now, 10003, "API key is invalid.", 401), "api key")
        payload = timestamp + key + window + (request.body if request.method == "POST" else request.raw_query)
        expected = hmac.new(self.credentials.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            msg = f"error sign! origin_string[{payload}]"
            raise AuthFailure(envelope({}, now, 10004, msg, 401), "signature")
        if not timestamp.isdigit() or not (now - int(window) <= int(timestamp) < now + 1000):
            msg = (
                f"invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{timestamp}],server_timestamp[{now}],recv_window[{window}]"
            )
            raise AuthFailure(envelope({}, now, 10002, msg), "timestamp")

    def rejection(self, request: ApiRequest, error: Rejected) -> ApiResponse:
        codes = {
            Reject.INSUFFICIENT_BALANCE: (170131, "Insufficient balance."),
            Reject.UNKNOWN_ORDER: (170213, "Order does not exist."),
            Reject.ORDER_CLOSED: (170213, "Order does not exist."),
            Reject.DUPLICATE_CLIENT_ID: (170141, "Duplicate clientOrderId."),
            Reject.BAD_QUANTITY: (170137, "Order quantity has too many decimals."),
            Reject.BAD_PRICE: (170134, "Order price has too many decimals."),
            Reject.MIN_NOTIONAL: (170140, "Order value exceeded lower limit."),
            Reject.WOULD_TAKE: (170210, "New order rejected."),
        }
        code, msg = codes.get(error.reason, (170130, str(error)))
        return envelope({}, request.received_ms, code, msg)

    def not_found(self, request: ApiRequest) -> ApiResponse:
        return ApiResponse(404, "<html><body>404 page not found</body></html>")

    def rate_limited(self, status: int, retry_after_s: int) -> ApiResponse:
        return ApiResponse(
            status,
            {
                "retCode": 10006,
                "retMsg": "Too many visits!",
                "result": {},
                "retExtInfo": {},
                "time": self.state.now(),
            },
        )

    # ------------------------------------------------------------------ helpers
    def params(self, request: ApiRequest) -> dict[str, Any]:
        if request.method == "POST":
            body = request.json()
            return body if isinstance(body, dict) else {}
        return request.query

    def instrument(self, params: dict[str, Any]) -> Instrument:
        if params.get("category") != "spot":
            raise ErrorResponse(envelope({}, self.state.now(), 10001, "This emulator lists spot only."))
        instrument = self.state.instrument_by_venue_id(str(params.get("symbol", "")))
        if instrument is None:
            raise ErrorResponse(envelope({}, self.state.now(), 10001, "Not supported symbols"))
        return instrument

    def find(self, params: dict[str, Any]) -> Order | None:
        order_id = params.get("orderId") or None
        link_id = params.get("orderLinkId") or None
        if order_id is None and link_id is None:
            raise ErrorResponse(envelope({}, self.state.now(), 10001, "orderId or orderLinkId is required"))
        return self.state.find(order_id, link_id)

    # ------------------------------------------------------------------ public
    async def server_time(self, request: ApiRequest) -> ApiResponse:
        now = request.received_ms
        return envelope({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}, now)

    async def instruments_info(self, request: ApiRequest) -> ApiResponse:
        params = request.query
        if params.get("category") != "spot":
            return envelope(
                {"category": params.get("category", ""), "list": [], "nextPageCursor": ""},
                request.received_ms,
            )
        items = [i for i in MARKETS["list"] if params.get("symbol") in (None, i["symbol"])]
        return envelope({"category": "spot", "list": items, "nextPageCursor": ""}, request.received_ms)

    async def tickers(self, request: ApiRequest) -> ApiResponse:
        instrument = self.instrument(request.query)
        market, symbol = self.state.market, instrument.symbol
        day = market.day_stats(symbol)
        bid, ask = market.levels(symbol, "bids", 1)[0], market.levels(symbol, "asks", 1)[0]
        item = {
            "symbol": instrument.venue_id,
            "bid1Price": fmt(bid[0]),
            "bid1Size": fmt(bid[1]),
            "ask1Price": fmt(ask[0]),
            "ask1Size": fmt(ask[1]),
            "lastPrice": fmt(day.close),
            "prevPrice24h": fmt(day.open),
            "price24hPcnt": fmt(((day.close - day.open) / day.open).quantize(Decimal("0.0001"))),
            "highPrice24h": fmt(day.high),
            "lowPrice24h": fmt(day.low),
            "turnover24h": fmt(day.quote_volume),
            "volume24h": fmt(day.volume),
            "usdIndexPrice": fmt(day.close),
        }
        return envelope({"category": "spot", "list": [item]}, request.received_ms)

    async def orderbook(self, request: ApiRequest) -> ApiResponse:
        instrument = self.instrument(request.query)
        limit = min(int(request.query.get("limit", "1")), 200)
        market, now = self.state.market, request.received_ms
        return envelope(
            {
                "s": instrument.venue_id,
                "b": [[fmt(p), fmt(q)] for p, q in market.levels(instrument.symbol, "bids", limit)],
                "a": [[fmt(p), fmt(q)] for p, q in market.levels(instrument.symbol, "asks", limit)],
                "ts": now,
                "u": 1_000_000 + len(self.state.fills),
                "seq": 7_000_000 + len(self.state.fills),
                "cts": now,
            },
            now,
        )

    async def kline(self, request: ApiRequest) -> ApiResponse:
        params = request.query
        instrument = self.instrument(params)
        minutes = INTERVALS.get(params.get("interval", ""))
        if minutes is None:
            return envelope({}, request.received_ms, 10001, "Invalid period!")
        limit = min(int(params.get("limit", "200")), 1000)
        start = int(params["start"]) if "start" in params else None
        end = int(params["end"]) if "end" in params else None
        candles = self.state.market.candles(instrument.symbol, minutes, start, limit, end)
        rows = [
            [
                str(c.open_ms),
                fmt(c.open),
                fmt(c.high),
                fmt(c.low),
                fmt(c.close),
                fmt(c.volume),
                fmt(c.quote_volume),
            ]
            for c in reversed(candles)
        ]
        return envelope(
            {"symbol": instrument.venue_id, "category": "spot", "list": rows}, request.received_ms
        )

    # ------------------------------------------------------------------ private
    async def wallet_balance(self, request: ApiRequest) -> ApiResponse:
        if request.query.get("accountType") != "UNIFIED":
            return envelope({}, request.received_ms, 10001, "accountType only support UNIFIED.")
        coins = [
            {
                "coin": asset,
                "equity": fmt(b.total),
                "usdValue": "",
                "walletBalance": fmt(b.total),
                "locked": fmt(b.locked),
                "spotHedgingQty": "0",
                "borrowAmount": "",
                "availableToWithdraw": "",
                "accruedInterest": "",
                "totalOrderIM": "0",
                "totalPositionIM": "0",
                "totalPositionMM": "0",
                "unrealisedPnl": "0",
                "cumRealisedPnl": "0",
                "bonus": "0",
                "marginCollateral": True,
                "collateralSwitch": True,
                "availableToBorrow": "",
            }
            for asset, b in sorted(self.state.balances.items())
        ]
        account = {
            "accountType": "UNIFIED",
            "accountIMRate": "0",
            "accountMMRate": "0",
            "totalEquity": "",
            "totalWalletBalance": "",
            "totalMarginBalance": "",
            "totalAvailableBalance": "",
            "totalPerpUPL": "0",
            "totalInitialMargin": "0",
            "totalMaintenanceMargin": "0",
            "accountLTV": "0",
            "coin": coins,
        }
        return envelope({"list": [account]}, request.received_ms)

    async def create(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        instrument = self.instrument(params)
        side = {"Buy": Side.BUY, "Sell": Side.SELL}.get(str(params.get("side")))
        order_type = params.get("orderType")
        if side is None or order_type not in ("Market", "Limit"):
            return envelope({}, request.received_ms, 10001, "params error: side or orderType invalid")
        link_id = params.get("orderLinkId")
        if link_id is not None and (len(link_id) > 36 or not link_id):
            return envelope({}, request.received_ms, 10001, "params error: orderLinkId is too long")
        is_stop = params.get("orderFilter") == "StopOrder" and "triggerPrice" in params
        kind = {
            ("Market", False): Kind.MARKET,
            ("Limit", False): Kind.LIMIT,
            ("Market", True): Kind.STOP_MARKET,
            ("Limit", True): Kind.STOP_LIMIT,
        }[(order_type, is_stop)]
        tif = {"PostOnly": TimeInForce.POST_ONLY, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}.get(
            str(params.get("timeInForce", "GTC")), TimeInForce.GTC
        )
        if kind is Kind.MARKET:
            tif = TimeInForce.IOC
        qty = Decimal(str(params.get("qty", "0")))
        market_unit = params.get("marketUnit") or ("quoteCoin" if side is Side.BUY else "baseCoin")
        by_quote = kind in (Kind.MARKET, Kind.STOP_MARKET) and market_unit == "quoteCoin"
        order = self.state.place(
            NewOrder(
                symbol=instrument.symbol,
                side=side,
                kind=kind,
                quantity=None if by_quote else qty,
                price=Decimal(str(params["price"]))
                if "price" in params and kind in (Kind.LIMIT, Kind.STOP_LIMIT)
                else None,
                client_order_id=link_id,
                time_in_force=tif,
                trigger_price=Decimal(str(params["triggerPrice"])) if is_stop else None,
                quote_quantity=qty if by_quote else None,
                extra={"marketUnit": market_unit} if kind in (Kind.MARKET, Kind.STOP_MARKET) else {},
            )
        )
        return envelope(
            {"orderId": order.order_id, "orderLinkId": order.client_order_id or ""}, request.received_ms
        )

    async def amend(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        self.instrument(params)
        order = self.find(params)
        if order is None:
            raise Rejected(Reject.UNKNOWN_ORDER)
        qty = Decimal(str(params["qty"])) if params.get("qty") else None
        price = Decimal(str(params["price"])) if params.get("price") else None
        if order.kind not in (Kind.LIMIT, Kind.STOP_LIMIT) and price is not None:
            return envelope({}, request.received_ms, 170130, "Data sent for paramter 'price' is not valid.")
        self.state.amend(order, qty, price)
        return envelope(
            {"orderId": order.order_id, "orderLinkId": order.client_order_id or ""}, request.received_ms
        )

    async def cancel(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        self.instrument(params)
        order = self.find(params)
        order_filter = params.get("orderFilter", "Order")
        wants_stop = order_filter == "StopOrder"  # an untriggered conditional is only found as a StopOrder
        if order is None or not order.is_open or wants_stop != (order.status is Status.UNTRIGGERED):
            raise Rejected(Reject.UNKNOWN_ORDER)
        self.state.cancel(order.order_id)
        return envelope(
            {"orderId": order.order_id, "orderLinkId": order.client_order_id or ""}, request.received_ms
        )

    def _filtered(self, orders: list[Order], params: dict[str, Any]) -> list[Order]:
        if params.get("symbol"):
            symbol = self.instrument(params).symbol
            orders = [o for o in orders if o.symbol == symbol]
        order_filter = params.get("orderFilter")
        if order_filter == "StopOrder":
            orders = [o for o in orders if o.is_trigger]
        elif order_filter == "Order":
            orders = [o for o in orders if not o.is_trigger]
        return sorted(orders, key=lambda o: -o.seq)

    async def realtime(self, request: ApiRequest) -> ApiResponse:
        params = request.query
        if params.get("category") != "spot":
            return envelope({}, request.received_ms, 10001, "This emulator lists spot only.")
        if params.get("orderId") or params.get("orderLinkId"):
            order = self.state.find(params.get("orderId") or None, params.get("orderLinkId") or None)
            orders = [order] if order is not None else []
        else:
            orders = self.state.open_orders()
        orders = self._filtered(orders, params)[: min(int(params.get("limit", "20")), 50)]
        return envelope(
            {"category": "spot", "list": [order_json(self.state, o) for o in orders], "nextPageCursor": ""},
            request.received_ms,
        )

    async def history(self, request: ApiRequest) -> ApiResponse:
        params = request.query
        orders = [o for o in self.state.orders.values() if not o.is_open]
        if params.get("orderId") or params.get("orderLinkId"):
            orders = [
                o
                for o in orders
                if o.order_id == params.get("orderId")
                or (o.client_order_id is not None and o.client_order_id == params.get("orderLinkId"))
            ]
        if params.get("orderStatus"):
            orders = [o for o in orders if order_json(self.state, o)["orderStatus"] == params["orderStatus"]]
        orders = self._window(self._filtered(orders, params), params, lambda o: o.created_ms)
        orders = orders[: min(int(params.get("limit", "20")), 50)]
        return envelope(
            {"category": "spot", "list": [order_json(self.state, o) for o in orders], "nextPageCursor": ""},
            request.received_ms,
        )

    async def executions(self, request: ApiRequest) -> ApiResponse:
        params = request.query
        fills = self.state.fills
        if params.get("symbol"):
            symbol = self.instrument(params).symbol
            fills = [f for f in fills if f.symbol == symbol]
        if params.get("orderId"):
            fills = [f for f in fills if f.order_id == params["orderId"]]
        fills = self._window(sorted(fills, key=lambda f: -f.seq), params, lambda f: f.ts_ms)
        fills = fills[: min(int(params.get("limit", "50")), 100)]
        return envelope(
            {"category": "spot", "list": [exec_json(self.state, f) for f in fills], "nextPageCursor": ""},
            request.received_ms,
        )

    def _window(self, items: list[Any], params: dict[str, Any], ts: Any) -> list[Any]:
        """Bybit's default window is the last 7 days when neither startTime nor endTime is given."""
        end = int(params["endTime"]) if params.get("endTime") else self.state.now()
        start = int(params["startTime"]) if params.get("startTime") else end - 7 * 86_400_000
        return [i for i in items if start <= ts(i) <= end]
