"""Bybit v5 payloads: instrument data, status names and the JSON shapes of orders and executions."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..orders import Fill, Kind, Order, Status, TimeInForce
from ..state import VenueState
from .base import ApiResponse, fmt

MARKETS = json.loads((Path(__file__).parent / "data" / "bybit_markets.json").read_text())
INTERVALS = {
    "1": 1,
    "3": 3,
    "5": 5,
    "15": 15,
    "30": 30,
    "60": 60,
    "120": 120,
    "240": 240,
    "360": 360,
    "720": 720,
    "D": 1440,
}
STATUS = {
    Status.UNTRIGGERED: "Untriggered",
    Status.NEW: "New",
    Status.PARTIALLY_FILLED: "PartiallyFilled",
    Status.FILLED: "Filled",
    Status.CANCELED: "Cancelled",
    Status.EXPIRED: "Cancelled",
}


def envelope(result: Any, now: int, code: int = 0, msg: str = "OK", status: int = 200) -> ApiResponse:
    return ApiResponse(
        status, {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now}
    )


def order_json(state: VenueState, order: Order) -> dict[str, Any]:
    instrument = state.instruments[order.symbol]
    status = STATUS[order.status]
    if order.status in (Status.CANCELED, Status.EXPIRED) and order.filled:
        status = "PartiallyFilledCanceled"
    is_market = order.kind in (Kind.MARKET, Kind.STOP_MARKET)
    market_unit = order.extra.get("marketUnit", "baseCoin") if is_market else ""
    leaves = order.leaves if order.is_open else Decimal(0)
    return {
        "orderId": order.order_id,
        "orderLinkId": order.client_order_id or "",
        "blockTradeId": "",
        "symbol": instrument.venue_id,
        "price": fmt(order.price or Decimal(0)),
        "qty": fmt(order.quote_quantity if market_unit == "quoteCoin" else order.quantity),
        "side": order.side.value.capitalize(),
        "isLeverage": "0",
        "positionIdx": 0,
        "orderStatus": status,
        "cancelType": "UNKNOWN" if order.status is not Status.CANCELED else "CancelByUser",
        "rejectReason": "EC_NoError",
        "avgPrice": fmt(order.average.quantize(instrument.tick) if order.average else Decimal(0)),
        "leavesQty": fmt(leaves),
        "leavesValue": fmt(leaves * (order.price or Decimal(0))),
        "cumExecQty": fmt(order.filled),
        "cumExecValue": fmt(order.cost),
        "cumExecFee": fmt(order.fee),
        "cumFeeDetail": {order.fee_asset: fmt(order.fee)} if order.fee_asset else {},
        "timeInForce": {TimeInForce.POST_ONLY: "PostOnly"}.get(
            order.time_in_force, order.time_in_force.value
        ),
        "orderType": "Market" if is_market else "Limit",
        "stopOrderType": "Stop" if order.is_trigger else "",
        "orderIv": "",
        "marketUnit": market_unit,
        "triggerPrice": fmt(order.trigger_price or Decimal(0)),
        "takeProfit": "0",
        "stopLoss": "0",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": "LastPrice" if order.is_trigger else "",
        "lastPriceOnCreated": fmt(state.market.last(order.symbol)),
        "reduceOnly": False,
        "closeOnTrigger": False,
        "placeType": "",
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "createdTime": str(order.created_ms),
        "updatedTime": str(order.updated_ms),
    }


def exec_json(state: VenueState, fill: Fill) -> dict[str, Any]:
    order = state.orders[fill.order_id]
    instrument = state.instruments[fill.symbol]
    return {
        "symbol": instrument.venue_id,
        "orderId": fill.order_id,
        "orderLinkId": fill.client_order_id or "",
        "side": fill.side.value.capitalize(),
        "orderPrice": fmt(order.price or Decimal(0)),
        "orderQty": fmt(order.quantity),
        "leavesQty": fmt(order.leaves),
        "orderType": "Market" if order.kind in (Kind.MARKET, Kind.STOP_MARKET) else "Limit",
        "stopOrderType": "",
        "execFee": fmt(fill.fee),
        "feeCurrency": fill.fee_asset,
        "execId": fill.trade_id,
        "execPrice": fmt(fill.price),
        "execQty": fmt(fill.quantity),
        "execType": "Trade",
        "execValue": fmt(fill.quote_quantity),
        "execTime": str(fill.ts_ms),
        "isMaker": fill.maker,
        "feeRate": fmt(state.fee_rate(instrument, fill.maker)),
        "tradeIv": "",
        "markIv": "",
        "markPrice": "",
        "indexPrice": "",
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": "",
        "seq": 4_600_000_000 + fill.seq,
    }
