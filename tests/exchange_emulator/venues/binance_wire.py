"""Binance spot payloads: market data, accepted parameters, statuses, JSON shapes of orders and trades."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..orders import Fill, Order, Side, Status, TimeInForce
from ..state import VenueState
from .base import ApiResponse, fmt

MARKETS = json.loads((Path(__file__).parent / "data" / "binance_markets.json").read_text())
CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
INTERVALS = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
    "1d": 1440,
}
SIGNED = {"timestamp", "recvWindow", "signature"}
ORDER_PARAMS = {
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
}
# Binance refuses parameters an endpoint does not read (-1104); ccxt passes unknown params straight through.
ACCEPTED = {
    ("GET", "/api/v3/exchangeInfo"): {
        "symbol",
        "symbols",
        "permissions",
        "showPermissionSets",
        "symbolStatus",
    },
    ("GET", "/api/v3/ticker/24hr"): {"symbol", "symbols", "type"},
    ("GET", "/api/v3/depth"): {"symbol", "limit"},
    ("GET", "/api/v3/klines"): {"symbol", "interval", "startTime", "endTime", "timeZone", "limit"},
    ("GET", "/api/v3/time"): set(),
    ("GET", "/api/v3/ping"): set(),
    ("GET", "/api/v3/account"): SIGNED | {"omitZeroBalances"},
    ("POST", "/api/v3/order"): SIGNED | ORDER_PARAMS,
    ("GET", "/api/v3/order"): SIGNED | {"symbol", "orderId", "origClientOrderId"},
    ("DELETE", "/api/v3/order"): SIGNED
    | {"symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"},
    ("POST", "/api/v3/order/cancelReplace"): SIGNED
    | ORDER_PARAMS
    | {
        "cancelReplaceMode",
        "cancelNewClientOrderId",
        "cancelOrigClientOrderId",
        "cancelOrderId",
        "cancelRestrictions",
        "orderRateLimitExceededMode",
    },
    ("GET", "/api/v3/openOrders"): SIGNED | {"symbol"},
    ("GET", "/api/v3/allOrders"): SIGNED | {"symbol", "orderId", "startTime", "endTime", "limit"},
    ("GET", "/api/v3/myTrades"): SIGNED | {"symbol", "orderId", "startTime", "endTime", "fromId", "limit"},
}
STATUS = {
    Status.UNTRIGGERED: "NEW",
    Status.NEW: "NEW",
    Status.PARTIALLY_FILLED: "PARTIALLY_FILLED",
    Status.FILLED: "FILLED",
    Status.CANCELED: "CANCELED",
    Status.EXPIRED: "EXPIRED",
}


def err(status: int, code: int, msg: str) -> ApiResponse:
    return ApiResponse(status, {"code": code, "msg": msg})


def order_json(state: VenueState, order: Order, *, full: bool = False) -> dict[str, Any]:
    instrument = state.instruments[order.symbol]
    base: dict[str, Any] = {
        "symbol": instrument.venue_id,
        "orderId": int(order.order_id),
        "orderListId": -1,
        "clientOrderId": order.client_order_id or "",
        "price": fmt(order.price, 8),
        "origQty": fmt(order.quantity, 8),
        "executedQty": fmt(order.filled, 8),
        "cummulativeQuoteQty": fmt(order.cost, 8),
        "status": STATUS[order.status],
        "timeInForce": "GTC" if order.time_in_force is TimeInForce.POST_ONLY else order.time_in_force.value,
        "type": order.extra.get("type", "LIMIT"),
        "side": order.side.value.upper(),
    }
    if order.trigger_price is not None or not full:
        base["stopPrice"] = fmt(order.trigger_price, 8)
    if full:
        base["transactTime"] = order.updated_ms
        base["workingTime"] = (
            order.triggered_ms or order.created_ms if order.status is not Status.UNTRIGGERED else -1
        )
        base["origQuoteOrderQty"] = fmt(order.quote_quantity, 8)
        base["fills"] = [
            {
                "price": fmt(f.price, 8),
                "qty": fmt(f.quantity, 8),
                "commission": fmt(f.fee, 8),
                "commissionAsset": f.fee_asset,
                "tradeId": int(f.trade_id),
            }
            for f in order.fills
        ]
    else:
        base.update(
            icebergQty=fmt(Decimal(0), 8),
            time=order.created_ms,
            updateTime=order.updated_ms,
            isWorking=order.status is not Status.UNTRIGGERED,
            workingTime=order.triggered_ms or order.created_ms
            if order.status is not Status.UNTRIGGERED
            else -1,
            origQuoteOrderQty=fmt(order.quote_quantity, 8),
        )
    base["selfTradePreventionMode"] = "EXPIRE_MAKER"
    return base


def trade_json(state: VenueState, fill: Fill) -> dict[str, Any]:
    return {
        "symbol": state.instruments[fill.symbol].venue_id,
        "id": int(fill.trade_id),
        "orderId": int(fill.order_id),
        "orderListId": -1,
        "price": fmt(fill.price, 8),
        "qty": fmt(fill.quantity, 8),
        "quoteQty": fmt(fill.quote_quantity, 8),
        "commission": fmt(fill.fee, 8),
        "commissionAsset": fill.fee_asset,
        "time": fill.ts_ms,
        "isBuyer": fill.side is Side.BUY,
        "isMaker": fill.maker,
        "isBestMatch": True,
    }


def cancel_json(state: VenueState, order: Order, params: dict[str, str], now: int) -> dict[str, Any]:
    body = order_json(state, order)
    return {
        "symbol": body["symbol"],
        "origClientOrderId": order.client_order_id,
        "orderId": body["orderId"],
        "orderListId": -1,
        "clientOrderId": params.get("newClientOrderId", f"cancel{order.seq:08d}"),
        "transactTime": now,
        **{
            k: body[k]
            for k in (
                "price",
                "origQty",
                "executedQty",
                "cummulativeQuoteQty",
                "status",
                "timeInForce",
                "type",
                "side",
                "selfTradePreventionMode",
            )
        },
    }
