"""Kraken spot REST (0/public, 0/private) as ccxt 4.5.90 calls it, with API-Sign HMAC-SHA512 signing.

Private calls are form POSTs with a `nonce` that must grow per key; API-Sign = base64 HMAC-SHA512 keyed by the
base64-decoded secret over (URI path + SHA256(nonce + POST body)). Errors are HTTP 200 with a non-empty
"error" list. Asset codes are Kraken's (XXBT, XETH, USDT); fees are charged in the quote currency. OHLC only
reaches back 720 intervals from now, as on Kraken. Kraken spot has no sandbox.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..market import Instrument
from ..orders import Fill, Kind, NewOrder, Order, Reject, Rejected, Side, Status, TimeInForce, VenueRules
from .base import ApiRequest, ApiResponse, AuthFailure, Credentials, ErrorResponse, Venue, fmt

MARKETS = json.loads((Path(__file__).parent / "data" / "kraken_markets.json").read_text())
ASSETS = {"BTC": "XXBT", "ETH": "XETH", "USDT": "USDT", "USD": "ZUSD"}
CLIENT_ID = re.compile(
    r"^([a-z0-9]{1,18}|[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
INTERVALS = {1, 5, 15, 30, 60, 240, 1440}
ORDER_TYPES = {
    "market": Kind.MARKET,
    "limit": Kind.LIMIT,
    "stop-loss": Kind.STOP_MARKET,
    "take-profit": Kind.STOP_MARKET,
    "stop-loss-limit": Kind.STOP_LIMIT,
    "take-profit-limit": Kind.STOP_LIMIT,
}
STATUS = {
    Status.UNTRIGGERED: "open",
    Status.NEW: "open",
    Status.PARTIALLY_FILLED: "open",
    Status.FILLED: "closed",
    Status.CANCELED: "canceled",
    Status.EXPIRED: "expired",
}
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def kraken_id(prefix: str, seq: int) -> str:
    """Kraken-style ids (OUF4EM-FRGI2-MQMWZD), derived from a sequence number so runs are reproducible."""
    digest = hashlib.sha256(f"{prefix}{seq}".encode()).digest()
    chars = "".join(ALPHABET[b % 32] for b in digest[:16])
    return f"{prefix}{chars[:5]}-{chars[5:10]}-{chars[10:16]}"


def result(value: Any) -> ApiResponse:
    return ApiResponse(200, {"error": [], "result": value})


def error(*messages: str, status: int = 200) -> ApiResponse:
    return ApiResponse(status, {"error": list(messages)})


class Kraken(Venue):
    name = "kraken"
    hosts = {"api.kraken.com": "live"}
    environments = ("live",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_nonce = 0

    @classmethod
    def instruments(cls) -> dict[str, Instrument]:
        out = {}
        codes = {v: k for k, v in ASSETS.items()}
        for pair_id, info in MARKETS["result"].items():
            base, quote = codes[info["base"]], codes[info["quote"]]
            out[f"{base}/{quote}"] = Instrument(
                symbol=f"{base}/{quote}",
                venue_id=pair_id,
                base=base,
                quote=quote,
                tick=Decimal(info["tick_size"]),
                lot=Decimal(1).scaleb(-int(info["lot_decimals"])),
                min_qty=Decimal(info["ordermin"]),
                min_notional=Decimal(info["costmin"]),
                maker_fee=Decimal("0.0016"),
                taker_fee=Decimal("0.0026"),
                level_qty=Decimal("0.5") if base == "BTC" else Decimal("5"),
            )
        return out

    @classmethod
    def rules(cls) -> VenueRules:
        return VenueRules(
            order_id=lambda seq: kraken_id("O", seq),
            trade_id=lambda seq: kraken_id("T", seq),
            fee_in_quote=True,
            fee_quantum=Decimal("0.00001"),  # Kraken prints fees with the pair's cost_decimals (5)
        )

    @classmethod
    def make_credentials(cls, seed: str) -> Credentials:
        digest = hashlib.sha512(seed.encode()).digest()
        key = base64.b64encode(hashlib.sha384(seed.encode()).digest()).decode()
        return Credentials(api_key=key, secret=base64.b64encode(digest).decode())

    def register_routes(self) -> None:
        for path, handler in (
            ("Time", self.time),
            ("Assets", self.assets),
            ("AssetPairs", self.asset_pairs),
            ("Ticker", self.ticker),
            ("Depth", self.depth),
            ("OHLC", self.ohlc),
        ):
            self.add("GET", f"/0/public/{path}", handler, private=False)
        for path, handler in (
            ("BalanceEx", self.balance_ex),
            ("AddOrder", self.add_order),
            ("QueryOrders", self.query_orders),
            ("OpenOrders", self.open_orders),
            ("ClosedOrders", self.closed_orders),
            ("CancelOrder", self.cancel_order),
            ("AmendOrder", self.amend_order),
            ("TradesHistory", self.trades_history),
        ):
            self.add("POST", f"/0/private/{path}", handler, private=True)

    # ------------------------------------------------------------------ auth and errors
    def verify(self, request: ApiRequest) -> None:
        if request.header("API-Key") != self.credentials.api_key:
            raise AuthFailure(error("EAPI:Invalid key"), "api key")
        params = self.params(request)
        nonce = str(params.get("nonce", ""))
        digest = hashlib.sha256((nonce + request.body).encode()).digest()
        mac = hmac.new(
            base64.b64decode(self.credentials.secret), request.path.encode() + digest, hashlib.sha512
        )
        if not hmac.compare_digest(base64.b64encode(mac.digest()).decode(), request.header("API-Sign") or ""):
            raise AuthFailure(error("EAPI:Invalid signature"), "signature")
        if not nonce.isdigit() or int(nonce) <= self.last_nonce:
            raise AuthFailure(error("EAPI:Invalid nonce"), "nonce")
        self.last_nonce = int(nonce)

    def rejection(self, request: ApiRequest, err: Rejected) -> ApiResponse:
        messages = {
            Reject.INSUFFICIENT_BALANCE: "EOrder:Insufficient funds",
            Reject.UNKNOWN_ORDER: "EOrder:Unknown order",
            Reject.ORDER_CLOSED: "EOrder:Unknown order",
            Reject.DUPLICATE_CLIENT_ID: "EGeneral:Invalid arguments:cl_ord_id not unique",
            Reject.BAD_QUANTITY: "EGeneral:Invalid arguments:volume",
            Reject.BAD_PRICE: "EGeneral:Invalid arguments:price",
            Reject.MIN_NOTIONAL: "EOrder:Order minimum not met",
            Reject.WOULD_TAKE: "EOrder:Post only order",
        }
        return error(messages.get(err.reason, "EGeneral:Invalid arguments"))

    def not_found(self, request: ApiRequest) -> ApiResponse:
        return error("EGeneral:Unknown method", status=404)

    def rate_limited(self, status: int, retry_after_s: int) -> ApiResponse:
        return error("EAPI:Rate limit exceeded", status=status)

    # ------------------------------------------------------------------ helpers
    def params(self, request: ApiRequest) -> dict[str, Any]:
        if (request.header("Content-Type") or "").startswith("application/json"):
            body = request.json()
            return body if isinstance(body, dict) else {}
        return request.form()

    def instrument(self, pair: str | None) -> Instrument:
        for instrument in self.state.instruments.values():
            if pair in (instrument.venue_id, MARKETS["result"][instrument.venue_id]["altname"]):
                return instrument
        raise ErrorResponse(error("EQuery:Unknown asset pair"))

    def order_json(self, order: Order, trades: bool = False) -> dict[str, Any]:
        instrument = self.state.instruments[order.symbol]
        kraken_type = order.extra.get("ordertype", "limit")
        price_text = fmt(order.trigger_price if order.is_trigger else order.price or Decimal(0))
        descr = (
            f"{order.side.value} {fmt(order.quantity, 8)} {instrument.venue_id} @ {kraken_type} {price_text}"
        )
        body: dict[str, Any] = {
            "refid": None,
            "userref": int(order.extra["userref"]) if "userref" in order.extra else None,
            "cl_ord_id": order.client_order_id,
            "status": STATUS[order.status],
            "opentm": order.created_ms / 1000,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": instrument.venue_id,
                "type": order.side.value,
                "ordertype": kraken_type,
                "price": price_text,
                "price2": fmt(order.price) if order.kind is Kind.STOP_LIMIT else "0",
                "leverage": "none",
                "order": descr,
                "close": "",
            },
            "vol": fmt(order.quantity, 8),
            "vol_exec": fmt(order.filled, 8),
            "cost": fmt(order.cost, 5),
            "fee": fmt(order.fee, 5),
            "price": fmt(order.average.quantize(instrument.tick) if order.average else Decimal(0), 5),
            "stopprice": fmt(order.trigger_price or Decimal(0), 5),
            "limitprice": fmt(order.price if order.kind is Kind.STOP_LIMIT else Decimal(0), 5),
            "misc": "",
            "oflags": order.extra.get("oflags", "fciq"),
        }
        if order.amendments:
            body["amended"] = True
        if not order.is_open:
            body["closetm"] = order.updated_ms / 1000
            body["reason"] = "User requested" if order.status is Status.CANCELED else None
        if trades and order.fills:
            body["trades"] = [f.trade_id for f in order.fills]
        return body

    def trade_json(self, fill: Fill) -> dict[str, Any]:
        order = self.state.orders[fill.order_id]
        instrument = self.state.instruments[fill.symbol]
        return {
            "ordertxid": fill.order_id,
            "postxid": kraken_id("P", fill.seq),
            "pair": instrument.venue_id,
            "aclass": "forex",
            "time": fill.ts_ms / 1000,
            "type": fill.side.value,
            "ordertype": order.extra.get("ordertype", "limit"),
            "price": fmt(fill.price, 5),
            "cost": fmt(fill.quote_quantity, 5),
            "fee": fmt(fill.fee, 5),
            "vol": fmt(fill.quantity, 8),
            "margin": "0.00000",
            "leverage": "0",
            "misc": "",
            "trade_id": 70_000_000 + fill.seq,
            "maker": fill.maker,
        }

    def filtered(self, orders: list[Order], params: dict[str, Any]) -> list[Order]:
        if params.get("cl_ord_id"):
            orders = [o for o in orders if o.client_order_id == params["cl_ord_id"]]
        if params.get("userref"):
            orders = [o for o in orders if o.extra.get("userref") == str(params["userref"])]
        return sorted(orders, key=lambda o: -o.seq)

    # ------------------------------------------------------------------ public
    async def time(self, request: ApiRequest) -> ApiResponse:
        return result({"unixtime": request.received_ms // 1000, "rfc1123": ""})

    async def assets(self, request: ApiRequest) -> ApiResponse:
        return result(
            {
                code: {
                    "aclass": "currency",
                    "altname": "XBT" if code == "XXBT" else code.lstrip("XZ"),
                    "decimals": 10,
                    "display_decimals": 5,
                    "status": "enabled",
                }
                for code in ("XXBT", "XETH", "USDT")
            }
        )

    async def asset_pairs(self, request: ApiRequest) -> ApiResponse:
        wanted = request.query.get("pair")
        pairs = MARKETS["result"]
        if wanted:
            pairs = {
                k: v for k, v in pairs.items() if k in wanted.split(",") or v["altname"] in wanted.split(",")
            }
        return result(pairs)

    async def ticker(self, request: ApiRequest) -> ApiResponse:
        instrument = self.instrument(request.query.get("pair"))
        market, symbol = self.state.market, instrument.symbol
        day = market.day_stats(symbol)
        bid, ask = market.levels(symbol, "bids", 1)[0], market.levels(symbol, "asks", 1)[0]
        vwap = (day.quote_volume / day.volume).quantize(instrument.tick) if day.volume else day.close
        return result(
            {
                instrument.venue_id: {
                    "a": [fmt(ask[0]), "1", fmt(ask[1])],
                    "b": [fmt(bid[0]), "1", fmt(bid[1])],
                    "c": [fmt(day.close), "0.00100000"],
                    "v": [fmt(day.volume), fmt(day.volume)],
                    "p": [fmt(vwap), fmt(vwap)],
                    "t": [day.trades, day.trades],
                    "l": [fmt(day.low), fmt(day.low)],
                    "h": [fmt(day.high), fmt(day.high)],
                    "o": fmt(day.open),
                }
            }
        )

    async def depth(self, request: ApiRequest) -> ApiResponse:
        instrument = self.instrument(request.query.get("pair"))
        count = min(int(request.query.get("count", "100")), 500)
        now = request.received_ms // 1000
        market = self.state.market
        return result(
            {
                instrument.venue_id: {
                    "asks": [
                        [fmt(p), fmt(q), now] for p, q in market.levels(instrument.symbol, "asks", count)
                    ],
                    "bids": [
                        [fmt(p), fmt(q), now] for p, q in market.levels(instrument.symbol, "bids", count)
                    ],
                }
            }
        )

    async def ohlc(self, request: ApiRequest) -> ApiResponse:
        params = request.query
        instrument = self.instrument(params.get("pair"))
        minutes = int(params.get("interval", "1"))
        if minutes not in INTERVALS:
            return error("EGeneral:Invalid arguments")
        candles = self.state.market.candles(instrument.symbol, minutes, None, 720)  # Kraken's window
        if params.get("since"):
            since_ms = int(params["since"]) * 1000
            candles = [c for c in candles if c.open_ms >= since_ms]
        rows = [
            [
                c.open_ms // 1000,
                fmt(c.open),
                fmt(c.high),
                fmt(c.low),
                fmt(c.close),
                fmt((c.quote_volume / c.volume).quantize(instrument.tick) if c.volume else c.close),
                fmt(c.volume, 8),
                c.trades,
            ]
            for c in candles
        ]
        last = candles[-1].open_ms // 1000 if candles else 0
        return result({instrument.venue_id: rows, "last": last})

    # ------------------------------------------------------------------ private
    async def balance_ex(self, request: ApiRequest) -> ApiResponse:
        return result(
            {
                ASSETS.get(asset, asset): {"balance": fmt(b.total, 10), "hold_trade": fmt(b.locked, 10)}
                for asset, b in sorted(self.state.balances.items())
            }
        )

    async def add_order(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        instrument = self.instrument(params.get("pair"))
        ordertype = str(params.get("ordertype", ""))
        side = {"buy": Side.BUY, "sell": Side.SELL}.get(str(params.get("type")))
        if ordertype not in ORDER_TYPES or side is None:
            return error("EGeneral:Invalid arguments:ordertype")
        cid = params.get("cl_ord_id")
        if cid is not None and not CLIENT_ID.match(str(cid)):
            return error("EGeneral:Invalid arguments:cl_ord_id")
        userref = params.get("userref")
        if userref is not None and not str(userref).lstrip("-").isdigit():
            return error("EGeneral:Invalid arguments:userref")
        oflags = str(params.get("oflags", ""))
        kind = ORDER_TYPES[ordertype]
        volume = Decimal(str(params.get("volume", "0")))
        viqc = "viqc" in oflags.split(",")
        tif = {"IOC": TimeInForce.IOC, "GTC": TimeInForce.GTC}.get(
            str(params.get("timeinforce", "GTC")), TimeInForce.GTC
        )
        if "post" in oflags.split(","):
            tif = TimeInForce.POST_ONLY
        price = Decimal(str(params["price"])) if params.get("price") else None
        price2 = Decimal(str(params["price2"])) if params.get("price2") else None
        new = NewOrder(
            symbol=instrument.symbol,
            side=side,
            kind=kind,
            quantity=None if viqc else volume,
            price=price if kind is Kind.LIMIT else (price2 if kind is Kind.STOP_LIMIT else None),
            client_order_id=cid,
            time_in_force=TimeInForce.IOC if kind is Kind.MARKET else tif,
            trigger_price=price if kind in (Kind.STOP_MARKET, Kind.STOP_LIMIT) else None,
            take_profit=ordertype.startswith("take-profit"),
            quote_quantity=volume if viqc else None,
            extra={
                "ordertype": ordertype,
                "oflags": oflags or "fciq",
                **({"userref": str(userref)} if userref is not None else {}),
            },
        )
        if str(params.get("validate", "")).lower() == "true":
            return result({"descr": {"order": f"{side.value} {volume} {instrument.venue_id} @ {ordertype}"}})
        order = self.state.place(new)
        return result(
            {"descr": {"order": self.order_json(order)["descr"]["order"]}, "txid": [order.order_id]}
        )

    async def query_orders(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        if params.get("userref") and not str(params["userref"]).lstrip("-").isdigit():
            return error("EGeneral:Invalid arguments:userref")
        if not params.get("txid"):
            return error("EGeneral:Invalid arguments")
        trades = str(params.get("trades", "")).lower() == "true"
        out = {}
        for txid in str(params["txid"]).split(","):
            order = self.state.orders.get(txid)
            if order is None:
                return error("EOrder:Invalid order")
            if not params.get("userref") or order.extra.get("userref") == str(params["userref"]):
                out[txid] = self.order_json(order, trades)
        return result(out)

    async def open_orders(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        trades = str(params.get("trades", "")).lower() == "true"
        orders = self.filtered(self.state.open_orders(), params)
        return result({"open": {o.order_id: self.order_json(o, trades) for o in orders}})

    async def closed_orders(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        trades = str(params.get("trades", "")).lower() == "true"
        orders = self.filtered([o for o in self.state.orders.values() if not o.is_open], params)
        if params.get("start"):
            orders = [o for o in orders if o.created_ms >= float(params["start"]) * 1000]
        offset = int(params.get("ofs", "0"))
        page = orders[offset : offset + 50]
        return result(
            {"closed": {o.order_id: self.order_json(o, trades) for o in page}, "count": len(orders)}
        )

    async def cancel_order(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        txid, cid = params.get("txid"), params.get("cl_ord_id")
        order = None
        if cid:
            order = next((o for o in self.state.open_orders() if o.client_order_id == cid), None)
        elif txid:
            order = self.state.orders.get(str(txid)) or next(
                (o for o in self.state.open_orders() if o.extra.get("userref") == str(txid)), None
            )
        if order is None or not order.is_open:
            raise Rejected(Reject.UNKNOWN_ORDER)
        self.state.cancel(order.order_id)
        return result({"count": 1})

    def _open_by(self, params: dict[str, Any]) -> Order:
        txid, cid = params.get("txid"), params.get("cl_ord_id")
        order = (
            self.state.orders.get(str(txid))
            if txid
            else next((o for o in self.state.open_orders() if o.client_order_id == cid), None)
        )
        if order is None or not order.is_open:
            raise Rejected(Reject.UNKNOWN_ORDER)
        return order

    async def amend_order(self, request: ApiRequest) -> ApiResponse:
        """Kraken's in-place amend (same txid; queue priority kept when only the quantity shrinks)."""
        params = self.params(request)
        order = self._open_by(params)
        qty = Decimal(str(params["order_qty"])) if params.get("order_qty") else None
        price = Decimal(str(params["limit_price"])) if params.get("limit_price") else None
        self.state.amend(order, qty, price)
        return result({"amend_id": kraken_id("T", 10_000_000 + order.seq * 100 + order.amendments)})

    async def trades_history(self, request: ApiRequest) -> ApiResponse:
        params = self.params(request)
        fills = sorted(self.state.fills, key=lambda f: -f.seq)
        if params.get("start"):
            fills = [f for f in fills if f.ts_ms >= float(params["start"]) * 1000]
        offset = int(params.get("ofs", "0"))
        page = fills[offset : offset + 50]
        return result({"trades": {f.trade_id: self.trade_json(f) for f in page}, "count": len(fills)})
