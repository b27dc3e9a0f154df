"""OKX v5 payloads: instrument data, bar and state names, JSON shapes of orders, algo orders and fills."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..orders import Fill, Kind, Order, Side, Status, TimeInForce
from ..state import VenueState
from .base import ApiResponse, fmt

MARKETS = json.loads((Path(__file__).parent / "data" / "okx_markets.json").read_text())
CLIENT_ID = re.compile(r"^[a-zA-Z0-9]{1,32}$")
BARS = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1H": 60,
    "2H": 120,
    "4H": 240,
    "6H": 360,
    "12H": 720,
    "1D": 1440,
    "6Hutc": 360,
    "12Hutc": 720,
    "1Dutc": 1440,
}
STATE = {
    Status.UNTRIGGERED: "live",
    Status.NEW: "live",
    Status.PARTIALLY_FILLED: "partially_filled",
    Status.FILLED: "filled",
    Status.CANCELED: "canceled",
    Status.EXPIRED: "canceled",
}
ORD_TYPES = {
    "market": (Kind.MARKET, TimeInForce.IOC),
    "limit": (Kind.LIMIT, TimeInForce.GTC),
    "post_only": (Kind.LIMIT, TimeInForce.POST_ONLY),
    "ioc": (Kind.LIMIT, TimeInForce.IOC),
    "fok": (Kind.LIMIT, TimeInForce.FOK),
}


def answer(data: list[Any], code: str = "0", msg: str = "", status: int = 200) -> ApiResponse:
    return ApiResponse(status, {"code": code, "msg": msg, "data": data})


def order_json(state: VenueState, order: Order) -> dict[str, Any]:
    instrument = state.instruments[order.symbol]
    last = order.fills[-1] if order.fills else None
    return {
        "accFillSz": fmt(order.filled),
        "algoClOrdId": "",
        "algoId": "",
        "attachAlgoClOrdId": "",
        "attachAlgoOrds": [],
        "avgPx": fmt(order.average) if order.average else "",
        "cTime": str(order.created_ms),
        "cancelSource": "",
        "cancelSourceReason": "",
        "category": "normal",
        "ccy": "",
        "clOrdId": order.client_order_id or "",
        "fee": fmt(-order.fee),
        "feeCcy": order.fee_asset or (instrument.base if order.side is Side.BUY else instrument.quote),
        "fillPx": fmt(last.price) if last else "",
        "fillSz": fmt(last.quantity) if last else "0",
        "fillTime": str(last.ts_ms) if last else "",
        "instId": instrument.venue_id,
        "instType": "SPOT",
        "isTpLimit": "false",
        "lever": "",
        "linkedAlgoOrd": {"algoId": ""},
        "ordId": order.order_id,
        "ordType": order.extra.get("ordType", "limit"),
        "pnl": "0",
        "posSide": "net",
        "px": fmt(order.price) if order.price is not None else "",
        "pxType": "",
        "pxUsd": "",
        "pxVol": "",
        "quickMgnType": "",
        "rebate": "0",
        "rebateCcy": instrument.quote,
        "reduceOnly": "false",
        "side": order.side.value,
        "slOrdPx": "",
        "slTriggerPx": "",
        "slTriggerPxType": "",
        "source": "",
        "state": STATE[order.status],
        "stpId": "",
        "stpMode": "cancel_maker",
        "sz": fmt(order.quote_quantity if order.quote_quantity is not None else order.quantity),
        "tag": order.extra.get("tag", ""),
        "tdMode": "cash",
        "tgtCcy": order.extra.get("tgtCcy", ""),
        "tpOrdPx": "",
        "tpTriggerPx": "",
        "tpTriggerPxType": "",
        "tradeId": last.trade_id if last else "",
        "tradeQuoteCcy": instrument.quote,
        "uTime": str(order.updated_ms),
    }


def algo_json(state: VenueState, order: Order) -> dict[str, Any]:
    instrument = state.instruments[order.symbol]
    untriggered = order.status is Status.UNTRIGGERED
    algo_state = "live" if untriggered else ("canceled" if order.triggered_ms is None else "effective")
    return {
        "activePx": "",
        "actualPx": "" if untriggered else fmt(order.price or Decimal(-1)),
        "actualSide": "",
        "actualSz": "" if untriggered else fmt(order.quantity),
        "algoClOrdId": order.client_order_id or "",
        "algoId": order.order_id,
        "amendPxOnTriggerType": "0",
        "attachAlgoOrds": [],
        "cTime": str(order.created_ms),
        "callbackRatio": "",
        "callbackSpread": "",
        "ccy": "",
        "clOrdId": order.client_order_id or "",
        "closeFraction": "",
        "failCode": "",
        "instId": instrument.venue_id,
        "instType": "SPOT",
        "last": fmt(state.market.last(order.symbol)),
        "lever": "",
        "moveTriggerPx": "",
        "ordId": "" if untriggered else order.order_id,
        "ordIdList": [] if untriggered else [order.order_id],
        "ordPx": fmt(order.price or Decimal(-1)),
        "ordType": "trigger",
        "posSide": "net",
        "pxLimit": "",
        "pxSpread": "",
        "pxVar": "",
        "quickMgnType": "",
        "reduceOnly": "false",
        "side": order.side.value,
        "slOrdPx": "",
        "slTriggerPx": "",
        "slTriggerPxType": "",
        "state": algo_state,
        "sz": fmt(order.quantity),
        "szLimit": "",
        "tag": order.extra.get("tag", ""),
        "tdMode": "cash",
        "tgtCcy": order.extra.get("tgtCcy", ""),
        "timeInterval": "",
        "tpOrdPx": "",
        "tpTriggerPx": "",
        "tpTriggerPxType": "",
        "triggerPx": fmt(order.trigger_price),
        "triggerPxType": "last",
        "triggerTime": str(order.triggered_ms or ""),
        "uTime": str(order.updated_ms),
    }


def fill_json(state: VenueState, fill: Fill) -> dict[str, Any]:
    instrument = state.instruments[fill.symbol]
    return {
        "instType": "SPOT",
        "instId": instrument.venue_id,
        "tradeId": fill.trade_id,
        "ordId": fill.order_id,
        "clOrdId": fill.client_order_id or "",
        "billId": str(700_000_000_000_000_000 + fill.seq),
        "subType": "1" if fill.side is Side.BUY else "2",
        "tag": "",
        "fillPx": fmt(fill.price),
        "fillSz": fmt(fill.quantity),
        "fillIdxPx": fmt(fill.price),
        "fillPnl": "0",
        "fillPxVol": "",
        "fillPxUsd": "",
        "fillMarkVol": "",
        "fillFwdPx": "",
        "fillMarkPx": "",
        "side": fill.side.value,
        "posSide": "net",
        "execType": "M" if fill.maker else "T",
        "feeCcy": fill.fee_asset,
        "fee": fmt(-fill.fee),
        "ts": str(fill.ts_ms),
        "fillTime": str(fill.ts_ms),
        "feeRate": fmt(-state.fee_rate(instrument, fill.maker)),
        "tradeQuoteCcy": instrument.quote,
    }
