"""OKX v5 spot (cash mode) as ccxt 4.5.90 calls it, with OK-ACCESS-* base64 HMAC-SHA256 signing.

Signed requests carry OK-ACCESS-KEY, OK-ACCESS-PASSPHRASE, OK-ACCESS-TIMESTAMP (ISO 8601, ms, Z) and
OK-ACCESS-SIGN = base64 HMAC-SHA256(timestamp + METHOD + path?query + body). Demo trading is the same host
with `x-simulated-trading: 1` (the emulator's "sandbox" environment, separate books and keys). Answers are
{"code", "msg", "data"}; per-order failures are code "1" with sCode/sMsg in data. ccxt places orders through
trade/batch-orders and stop orders through trade/order-algo; an algo order keeps one id (algoId) that is
also the ordId of the order it becomes once triggered (OKX gives them different ids: a simplification).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
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
from .okx_wire import BARS, CLIENT_ID, MARKETS, ORD_TYPES, STATE, algo_json, answer, fill_json, order_json


class Okx(Venue):
    name = "okx"
    hosts = {"www.okx.com": "live", "aws.okx.com": "live", "my.okx.com": "live"}
    environments = ("live", "sandbox")  # sandbox: x-simulated-trading: 1 on the same hosts

    @classmethod
    def instruments(cls) -> dict[str, Instrument]:
        out = {}
        for info in MARKETS["data"]:
            symbol = f"{info['baseCcy']}/{info['quoteCcy']}"
            out[symbol] = Instrument(
                symbol=symbol,
                venue_id=info["instId"],
                base=info["baseCcy"],
                quote=info["quoteCcy"],
                tick=Decimal(info["tickSz"]),
                lot=Decimal(info["lotSz"]),
                min_qty=Decimal(info["minSz"]),
                min_notional=Decimal(0),
                maker_fee=Decimal("0.0008"),
                taker_fee=Decimal("0.001"),
                level_qty=Decimal("0.5") if info["baseCcy"] == "BTC" else Decimal("5"),
            )
        return out

    @classmethod
    def rules(cls) -> VenueRules:
        return VenueRules(
            order_id=lambda seq: str(600_000_000_000_000_000 + seq),
            trade_id=lambda seq: str(120_000_000 + seq),
        )

    @classmethod
    def make_credentials(cls, seed: str) -> Credentials:
        base = random_credentials(seed, secret_alphabet="0123456789ABCDEF", secret_len=32, key_len=36)
        return Credentials(base.api_key, base.secret, password="Emu1" + base.api_key[:8] + "!")

    def register_routes(self) -> None:
        self.add("GET", "/api/v5/public/time", self.server_time, private=False)
        self.add("GET", "/api/v5/public/instruments", self.instruments_list, private=False)
        self.add("GET", "/api/v5/market/ticker", self.ticker, private=False)
        self.add("GET", "/api/v5/market/books", self.books, private=False)
        self.add("GET", "/api/v5/market/candles", self.candles, private=False)
        self.add("GET", "/api/v5/market/history-candles", self.candles, private=False)
        self.add("GET", "/api/v5/account/balance", self.balance, private=True)
        self.add("POST", "/api/v5/trade/order", self.place_one, private=True)
        self.add("POST", "/api/v5/trade/batch-orders", self.place_batch, private=True)
        self.add("POST", "/api/v5/trade/order-algo", self.place_algo, private=True)
        self.add("GET", "/api/v5/trade/order", self.get_order, private=True)
        self.add("GET", "/api/v5/trade/order-algo", self.get_algo, private=True)
        self.add("POST", "/api/v5/trade/cancel-order", self.cancel, private=True)
        self.add("POST", "/api/v5/trade/cancel-algos", self.cancel_algos, private=True)
        self.add("POST", "/api/v5/trade/amend-order", self.amend, private=True)
        self.add("GET", "/api/v5/trade/orders-pending", self.pending, private=True)
        self.add("GET", "/api/v5/trade/orders-history", self.history, private=True)
        self.add("GET", "/api/v5/trade/orders-algo-pending", self.algo_pending, private=True)
        self.add("GET", "/api/v5/trade/orders-algo-history", self.algo_history, private=True)
        self.add("GET", "/api/v5/trade/fills-history", self.fills, private=True)
        self.add("GET", "/api/v5/trade/fills", self.fills, private=True)

    # ------------------------------------------------------------------ auth and errors
    def verify(self, request: ApiRequest) -> None:
        key = request.header("OK-ACCESS-KEY")
        if not key:
            raise AuthFailure(
                answer([], "50103", "Request header OK-ACCESS-KEY cannot be empty.", 401), "no key"
            )
        if key != self.credentials.api_key:
            raise AuthFailure(answer([], "50111", "Invalid OK-ACCESS-KEY.", 401), "api key")
        timestamp = request.header("OK-ACCESS-TIMESTAMP") or ""
        path = request.path + ("?" + request.raw_query if request.raw_query else "")
        payload = timestamp + request.method.upper() + path + request.body
        digest = hmac.new(self.credentials.secret.encode(), payload.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), request.header("OK-ACCESS-SIGN") or ""):
            raise AuthFailure(answer([], "50113", "Invalid Sign", 401), "signature")
        if request.header("OK-ACCESS-PASSPHRASE") != self.credentials.password:
            raise AuthFailure(answer([], "50105", "OK-ACCESS-PASSPHRASE incorrect.", 401), "passphrase")
        try:
            sent = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000
        except ValueError:
            sent = 0
        if abs(request.received_ms - sent) > 30_000:
            raise AuthFailure(answer([], "50102", "Timestamp request expired.", 401), "timestamp")

    def rejection(self, request: ApiRequest, error: Rejected) -> ApiResponse:
        codes = {
            Reject.INSUFFICIENT_BALANCE: ("51008", "Order failed. Insufficient balance in account."),
            Reject.DUPLICATE_CLIENT_ID: ("51016", "Duplicated clOrdId"),
            Reject.BAD_QUANTITY: ("51121", "Order quantity must be a multiple of the lot size."),
            Reject.BAD_PRICE: ("51006", "Order price is not within the price limit."),
            Reject.MIN_NOTIONAL: ("51020", "Your order should meet or exceed the minimum order amount."),
            Reject.WOULD_TAKE: ("51000", "Parameter px error"),
        }
        if request.path.endswith("cancel-order") or request.path.endswith("cancel-algos"):
            codes[Reject.UNKNOWN_ORDER] = (
                "51400",
                "Cancellation failed as the order has been filled, canceled or does not exist.",
            )
            codes[Reject.ORDER_CLOSED] = ("51402", "Cancellation failed as the order is already completed.")
        else:
            codes[Reject.UNKNOWN_ORDER] = (
                "51503",
                "Order modification failed as the order has been filled, canceled or does not exist.",
            )
            codes[Reject.ORDER_CLOSED] = ("51510", "Modification failed as the order has been completed.")
        code, msg = codes.get(error.reason, ("51000", str(error)))
        return self.item_failure(code, msg)

    def item_failure(self, code: str, msg: str) -> ApiResponse:
        now = str(self.state.now())
        return answer(
            [{"clOrdId": "", "ordId": "", "sCode": code, "sMsg": msg, "tag": "", "ts": now}],
            "1",
            "All operations failed",
        )

    def not_found(self, request: ApiRequest) -> ApiResponse:
        return ApiResponse(404, {"msg": "", "code": "50000"})

    def rate_limited(self, status: int, retry_after_s: int) -> ApiResponse:
        return answer([], "50011", "Too Many Requests", status)

    # ------------------------------------------------------------------ helpers
    def instrument(self, inst_id: str | None) -> Instrument:
        instrument = self.state.instrument_by_venue_id(inst_id or "")
        if instrument is None:
            raise ErrorResponse(answer([], "51001", f"Instrument ID {inst_id} does not exist."))
        return instrument

    def lookup(self, params: dict[str, Any], id_key: str = "ordId", cid_key: str = "clOrdId") -> Order | None:
        self.instrument(params.get("instId"))
        order_id, cid = params.get(id_key) or None, params.get(cid_key) or None
        if order_id is None and cid is None:
            raise ErrorResponse(answer([], "51000", f"Parameter {id_key} error"))
        return self.state.find(order_id, cid)

    # ------------------------------------------------------------------ public
    async def server_time(self, request: ApiRequest) -> ApiResponse:
        return answer([{"ts": str(request.received_ms)}])

    async def instruments_list(self, request: ApiRequest) -> ApiResponse:
        params = request.query
        if params.get("instType") != "SPOT":
            return answer([])
        return answer([i for i in MARKETS["data"] if params.get("instId") in (None, i["instId"])])

    async def ticker(self, request: ApiRequest) -> ApiResponse:
        instrument = self.instrument(request.query.get("instId"))
        market, symbol = self.state.market, instrument.symbol
        day = market.day_stats(symbol)
        bid, ask = market.levels(symbol, "bids", 1)[0], market.levels(symbol, "asks", 1)[0]
        return answer(
            [
                {
                    "instType": "SPOT",
                    "instId": instrument.venue_id,
                    "last": fmt(day.close),
                    "lastSz": "0.001",
                    "askPx": fmt(ask[0]),
                    "askSz": fmt(ask[1]),
                    "bidPx": fmt(bid[0]),
                    "bidSz": fmt(bid[1]),
                    "open24h": fmt(day.open),
                    "high24h": fmt(day.high),
                    "low24h": fmt(day.low),
                    "volCcy24h": fmt(day.quote_volume),
                    "vol24h": fmt(day.volume),
                    "ts": str(request.received_ms),
                    "sodUtc0": fmt(day.open),
                    "sodUtc8": fmt(day.open),
                }
            ]
        )

    async def books(self, request: ApiRequest) -> ApiResponse:
        instrument = self.instrument(request.query.get("instId"))
        depth = min(int(request.query.get("sz", "1")), 400)
        market = self.state.market
        return answer(
            [
                {
                    "asks": [
                        [fmt(p), fmt(q), "0", str(1 + i % 3)]
                        for i, (p, q) in enumerate(market.levels(instrument.symbol, "asks", depth))
                    ],
                    "bids": [
                        [fmt(p), fmt(q), "0", str(1 + i % 3)]
                        for i, (p, q) in enumerate(market.levels(instrument.symbol, "bids", depth))
                    ],
                    "ts": str(request.received_ms),
                }
            ]
        )

    async def candles(self, request: ApiRequest) -> ApiResponse:
        params = request.query
        instrument = self.instrument(params.get("instId"))
        minutes = BARS.get(params.get("bar", "1m"))
        if minutes is None:
            return answer([], "51000", "Parameter bar error")
        cap = 100 if request.path.endswith("history-candles") else 300
        limit = min(int(params.get("limit", "100")), cap)
        after = int(params["after"]) - 1 if params.get("after") else None  # OKX bounds are exclusive
        before = int(params["before"]) + 1 if params.get("before") else None
        candles = self.state.market.candles(instrument.symbol, minutes, before, limit, after, newest=True)
        return answer(
            [
                [
                    str(c.open_ms),
                    fmt(c.open),
                    fmt(c.high),
                    fmt(c.low),
                    fmt(c.close),
                    fmt(c.volume),
                    fmt(c.quote_volume),
                    fmt(c.quote_volume),
                    "1",
                ]
                for c in reversed(candles)
            ]
        )

    # ------------------------------------------------------------------ private: account and orders
    async def balance(self, request: ApiRequest) -> ApiResponse:
        now = str(request.received_ms)
        details = [
            {
                "ccy": asset,
                "eq": fmt(b.total),
                "cashBal": fmt(b.total),
                "availBal": fmt(b.free),
                "availEq": "",
                "frozenBal": fmt(b.locked),
                "ordFrozen": fmt(b.locked),
                "disEq": "",
                "eqUsd": "",
                "uTime": now,
                "upl": "0",
                "liab": "",
                "crossLiab": "",
                "isoLiab": "",
                "mgnRatio": "",
                "interest": "",
                "twap": "0",
                "maxLoan": "",
                "notionalLever": "",
                "stgyEq": "0",
                "isoUpl": "",
                "spotInUseAmt": "",
                "spotIsoBal": "0",
                "imr": "",
                "mmr": "",
            }
            for asset, b in sorted(self.state.balances.items())
        ]
        return answer(
            [
                {
                    "adjEq": "",
                    "borrowFroz": "",
                    "details": details,
                    "imr": "",
                    "isoEq": "0",
                    "mgnRatio": "",
                    "mmr": "",
                    "notionalUsd": "",
                    "ordFroz": "",
                    "totalEq": "",
                    "uTime": now,
                    "upl": "",
                }
            ]
        )

    def new_order(self, item: dict[str, Any], algo: bool = False) -> Order:
        instrument = self.instrument(item.get("instId"))
        side = {"buy": Side.BUY, "sell": Side.SELL}.get(str(item.get("side")))
        ord_type = str(item.get("ordType"))
        if side is None or (ord_type not in ORD_TYPES and not algo) or (algo and ord_type != "trigger"):
            raise ErrorResponse(self.item_failure("51000", "Parameter ordType error"))
        if item.get("tdMode") != "cash":
            raise ErrorResponse(self.item_failure("51000", "Parameter tdMode error"))
        cid = item.get("algoClOrdId") or item.get("clOrdId")
        if cid is not None and not CLIENT_ID.match(str(cid)):
            raise ErrorResponse(self.item_failure("51000", "Parameter clOrdId error"))
        size = Decimal(str(item.get("sz", "0")))
        default_tgt = "quote_ccy" if side is Side.BUY else "base_ccy"
        tgt = str(item.get("tgtCcy") or default_tgt)
        if algo:
            order_px = Decimal(str(item.get("orderPx", "-1")))
            kind, tif = (
                (Kind.STOP_MARKET, TimeInForce.IOC) if order_px < 0 else (Kind.STOP_LIMIT, TimeInForce.GTC)
            )
            price = None if order_px < 0 else order_px
            trigger = Decimal(str(item["triggerPx"]))
        else:
            kind, tif = ORD_TYPES[ord_type]
            price = Decimal(str(item["px"])) if kind is Kind.LIMIT else None
            trigger = None
        by_quote = kind in (Kind.MARKET, Kind.STOP_MARKET) and side is Side.BUY and tgt == "quote_ccy"
        extra = {
            "ordType": "market" if kind is Kind.STOP_MARKET else ("limit" if algo else ord_type),
            "tag": str(item.get("tag", "")),
        }
        if kind in (Kind.MARKET, Kind.STOP_MARKET):
            extra["tgtCcy"] = tgt
        return self.state.place(
            NewOrder(
                symbol=instrument.symbol,
                side=side,
                kind=kind,
                quantity=None if by_quote else size,
                price=price,
                client_order_id=cid,
                time_in_force=tif,
                trigger_price=trigger,
                quote_quantity=size if by_quote else None,
                extra=extra,
            )
        )

    def placed(self, order: Order, algo: bool = False) -> dict[str, Any]:
        base = {
            "clOrdId": order.client_order_id or "",
            "tag": order.extra.get("tag", ""),
            "ts": str(order.created_ms),
            "sCode": "0",
            "sMsg": "Order placed",
        }
        if algo:
            return {**base, "algoId": order.order_id, "algoClOrdId": order.client_order_id or "", "sMsg": ""}
        return {**base, "ordId": order.order_id}

    async def place_one(self, request: ApiRequest) -> ApiResponse:
        return answer([self.placed(self.new_order(request.json()))])

    async def place_batch(self, request: ApiRequest) -> ApiResponse:
        items = request.json()
        if not isinstance(items, list) or not 1 <= len(items) <= 20:
            return answer([], "51000", "Parameter batch-orders error")
        results: list[dict[str, Any]] = []
        for item in items:
            try:
                results.append(self.placed(self.new_order(item)))
            except Rejected as error:
                results.append(
                    self.rejection(request, error).body["data"][0] | {"clOrdId": item.get("clOrdId", "")}
                )
            except ErrorResponse as error:
                results.append(error.response.body["data"][0] | {"clOrdId": item.get("clOrdId", "")})
        failed = sum(1 for r in results if r["sCode"] != "0")
        code = "0" if not failed else ("1" if failed == len(results) else "2")
        return answer(results, code, "" if code == "0" else "All operations failed" if code == "1" else "")

    async def place_algo(self, request: ApiRequest) -> ApiResponse:
        return answer([self.placed(self.new_order(request.json(), algo=True), algo=True)])

    async def get_order(self, request: ApiRequest) -> ApiResponse:
        order = self.lookup(request.query)
        if (
            order is None
            or (order.status is Status.UNTRIGGERED)
            or (order.is_trigger and not order.triggered_ms)
        ):
            return answer([], "51603", "Order does not exist")
        return answer([order_json(self.state, order)])

    async def get_algo(self, request: ApiRequest) -> ApiResponse:
        params = request.query
        order = self.state.find(params.get("algoId") or None, params.get("algoClOrdId") or None)
        if order is None or not order.is_trigger:
            return answer([], "51603", "Order does not exist")
        return answer([algo_json(self.state, order)])

    async def cancel(self, request: ApiRequest) -> ApiResponse:
        params = request.json()
        order = self.lookup(params)
        if order is None or order.status is Status.UNTRIGGERED:
            raise Rejected(Reject.UNKNOWN_ORDER)
        if order.status is Status.CANCELED:
            return self.item_failure("51401", "Cancellation failed as the order is already canceled.")
        self.state.cancel(order.order_id)
        return answer(
            [
                {
                    "clOrdId": order.client_order_id or "",
                    "ordId": order.order_id,
                    "sCode": "0",
                    "sMsg": "",
                    "ts": str(request.received_ms),
                }
            ]
        )

    async def cancel_algos(self, request: ApiRequest) -> ApiResponse:
        results = []
        for item in request.json():
            order = self.state.find(item.get("algoId"))
            if order is None or order.status is not Status.UNTRIGGERED:
                raise Rejected(Reject.UNKNOWN_ORDER)
            self.state.cancel(order.order_id)
            results.append(
                {
                    "algoClOrdId": order.client_order_id or "",
                    "algoId": order.order_id,
                    "clOrdId": "",
                    "sCode": "0",
                    "sMsg": "",
                    "tag": "",
                }
            )
        return answer(results)

    async def amend(self, request: ApiRequest) -> ApiResponse:
        params = request.json()
        order = self.lookup(params)
        if order is None or order.status is Status.UNTRIGGERED:
            raise Rejected(Reject.UNKNOWN_ORDER)
        if order.status is Status.CANCELED:
            return self.item_failure("51509", "Modification failed as the order has been canceled.")
        new_sz = Decimal(str(params["newSz"])) if params.get("newSz") else None
        new_px = Decimal(str(params["newPx"])) if params.get("newPx") else None
        self.state.amend(order, new_sz, new_px)
        return answer(
            [
                {
                    "clOrdId": order.client_order_id or "",
                    "ordId": order.order_id,
                    "reqId": str(params.get("reqId", "")),
                    "sCode": "0",
                    "sMsg": "",
                    "ts": str(request.received_ms),
                }
            ]
        )

    def _select(self, orders: list[Order], params: dict[str, str]) -> list[Order]:
        if params.get("instType") not in (None, "SPOT"):
            return []
        if params.get("instId"):
            symbol = self.instrument(params["instId"]).symbol
            orders = [o for o in orders if o.symbol == symbol]
        orders = sorted(orders, key=lambda o: -o.seq)
        return orders[: min(int(params.get("limit", "100")), 100)]

    async def pending(self, request: ApiRequest) -> ApiResponse:
        orders = [o for o in self.state.open_orders() if o.status is not Status.UNTRIGGERED]
        return answer([order_json(self.state, o) for o in self._select(orders, request.query)])

    async def history(self, request: ApiRequest) -> ApiResponse:
        state = request.query.get("state")
        orders = [
            o for o in self.state.orders.values() if not o.is_open and (not o.is_trigger or o.triggered_ms)
        ]
        if state:
            orders = [o for o in orders if STATE[o.status] == state]
        return answer([order_json(self.state, o) for o in self._select(orders, request.query)])

    async def algo_pending(self, request: ApiRequest) -> ApiResponse:
        orders = [o for o in self.state.open_orders() if o.status is Status.UNTRIGGERED]
        return answer([algo_json(self.state, o) for o in self._select(orders, request.query)])

    async def algo_history(self, request: ApiRequest) -> ApiResponse:
        orders = [
            o for o in self.state.orders.values() if o.is_trigger and o.status is not Status.UNTRIGGERED
        ]
        state = request.query.get("state")
        if state:
            orders = [o for o in orders if algo_json(self.state, o)["state"] == state]
        return answer([algo_json(self.state, o) for o in self._select(orders, request.query)])

    async def fills(self, request: ApiRequest) -> ApiResponse:
        params = request.query
        fills = self.state.fills
        if params.get("instId"):
            symbol = self.instrument(params["instId"]).symbol
            fills = [f for f in fills if f.symbol == symbol]
        if params.get("ordId"):
            fills = [f for f in fills if f.order_id == params["ordId"]]
        fills = sorted(fills, key=lambda f: -f.seq)[: min(int(params.get("limit", "100")), 100)]
        return answer([fill_json(self.state, f) for f in fills])
