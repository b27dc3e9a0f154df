"""What differs per venue when a test drives unmodified ccxt against the emulator (ccxt 4.5.90)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import ccxt
from tests.exchange_emulator.server import Emulator, EmulatorConfig

T = TypeVar("T")
SYMBOL = "BTC/USDT"
VENUES = ("binance", "bybit", "okx", "kraken")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """pytest-asyncio is not a dependency: each test runs its scenario on a fresh event loop."""
    return asyncio.run(coro)


def emulator(*venues: str) -> Emulator:
    return Emulator(EmulatorConfig(venues=venues or VENUES))


async def find_open_or_closed(exchange: Any, symbol: str, params: dict[str, Any]) -> dict[str, Any]:
    orders = await exchange.fetch_open_orders(symbol, None, None, dict(params))
    if not orders:
        orders = await exchange.fetch_closed_orders(symbol, None, None, dict(params))
    if len(orders) != 1:
        raise ccxt.OrderNotFound(f"{len(orders)} orders carry {params}")
    return dict(orders[0])


async def _binance_lookup(exchange: Any, symbol: str, cid: str) -> dict[str, Any]:
    return dict(await exchange.fetch_order(None, symbol, {"origClientOrderId": cid}))


async def _bybit_lookup(exchange: Any, symbol: str, cid: str) -> dict[str, Any]:
    # v5/order/realtime answers for any recent order named by orderLinkId, open or not. fetch_order()
    # cannot: it always sends orderId (None when unknown), which matches nothing.
    orders = await exchange.fetch_open_orders(symbol, None, None, {"orderLinkId": cid})
    if len(orders) != 1:
        raise ccxt.OrderNotFound(cid)
    return dict(orders[0])


async def _okx_lookup(exchange: Any, symbol: str, cid: str) -> dict[str, Any]:
    return dict(await exchange.fetch_order(None, symbol, {"clOrdId": cid}))


async def _kraken_lookup(exchange: Any, symbol: str, cid: str) -> dict[str, Any]:
    # fetch_order() sends the client id as `userref` (an integer on Kraken) and needs the txid anyway;
    # OpenOrders/ClosedOrders filter by cl_ord_id.
    return await find_open_or_closed(exchange, symbol, {"clientOrderId": cid})


@dataclass(frozen=True)
class Profile:
    """name; cid(tag): a client order id the venue accepts; fetch_params: what fetch_order needs;
    lookup: fetch an order by client order id only; edit_keeps_id: the native edit keeps the order id;
    lean_calls: the only requests load_markets() may make with the lean options."""

    name: str
    cid: Callable[[str], str]
    lookup: Callable[[Any, str, str], Awaitable[dict[str, Any]]]
    edit_keeps_id: bool
    lean_calls: tuple[str, ...]
    fetch_params: dict[str, Any] = field(default_factory=dict)
    bad_secret: str = "0" * 64
    bad_secret_error: type[Exception] = ccxt.AuthenticationError
    rate_limit_error: type[Exception] = ccxt.RateLimitExceeded


PROFILES = {
    "binance": Profile(
        "binance",
        cid=lambda tag: f"tf-{tag}",
        lookup=_binance_lookup,
        edit_keeps_id=False,  # cancelReplace: a new order id
        lean_calls=("/api/v3/exchangeInfo",),
        rate_limit_error=ccxt.DDoSProtection,  # 418/429 -> DDoSProtection, a sibling of RateLimitExceeded
    ),
    "bybit": Profile(
        "bybit",
        cid=lambda tag: f"tf-{tag}",
        lookup=_bybit_lookup,
        edit_keeps_id=True,
        lean_calls=("/v5/market/instruments-info",),
        fetch_params={"acknowledged": True},
    ),
    "okx": Profile(
        "okx",
        cid=lambda tag: f"tf{tag.replace('-', '')}",  # clOrdId: letters and digits only
        lookup=_okx_lookup,
        edit_keeps_id=True,
        lean_calls=("/api/v5/public/instruments",),
    ),
    "kraken": Profile(
        "kraken",
        cid=lambda tag: f"tf{tag.replace('-', '')}"[:18].lower(),  # free text: <= 18 lowercase/digits
        lookup=_kraken_lookup,
        edit_keeps_id=True,
        lean_calls=("/0/public/AssetPairs",),
        bad_secret="d3Jvbmcgc2VjcmV0",  # valid base64, wrong key
        bad_secret_error=ccxt.ExchangeError,  # EAPI:Invalid signature is not in ccxt's map
        rate_limit_error=ccxt.DDoSProtection,  # EAPI:Rate limit exceeded -> DDoSProtection
    ),
}
