"""Point unmodified ccxt at the emulator at the transport layer: a resolver and a CA, never a rewritten URL.

ccxt keeps its production URLs (https://api.binance.com/...), so it picks the same error maps, signing paths
and host-dependent behaviour as in production. Its aiohttp session gets a connector whose resolver sends the
exchange hostnames to 127.0.0.1 at the emulator's port and whose SSL context trusts only the test CA. aiohttp
connects to the host and port the resolver returns (TCPConnector._convert_hosts_to_addr_infos uses the
result's "port"), while TLS SNI, certificate hostname checks and the Host header keep the real hostname.
Unknown hostnames fail to resolve, so a test can never reach a real exchange.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async
from aiohttp.abc import AbstractResolver, ResolveResult

from .server import Emulator

# ccxt options that stop load_markets() and the first private call from making hidden requests for
# currencies, margin pairs, futures/options markets and account-type probes (FINDINGS.md §1). They are the
# options production should use too: the emulator also answers the calls they avoid only with 404s.
LEAN_CONFIG: Mapping[str, Mapping[str, Any]] = {
    "binance": {
        "options": {
            "fetchCurrencies": False,  # sapi/v1/capital/config/getall (signed)
            "fetchMargins": False,  # sapi/v1/margin/allPairs (twice) and margin/isolated/allPairs
            "fetchMarkets": {"types": ["spot"]},  # fapi/v1/exchangeInfo, dapi/v1/exchangeInfo
            "adjustForTimeDifference": False,  # api/v3/time
        }
    },
    "bybit": {
        "has": {"fetchCurrencies": False},  # v5/asset/coin/query-info (signed)
        "options": {
            "fetchMarkets": {"types": ["spot"]},  # linear/inverse/option instruments-info (x10)
            "enableUnifiedAccount": True,  # skips v5/user/query-api + v5/account/info before private calls
            "enableUnifiedMargin": False,
        },
    },
    "okx": {
        "has": {"fetchCurrencies": False},  # api/v5/asset/currencies (signed)
        "options": {"fetchMarkets": {"types": ["spot"]}},  # FUTURES/SWAP/OPTION instruments
    },
    "kraken": {"has": {"fetchCurrencies": False}},  # 0/public/Assets
}


class LoopbackResolver(AbstractResolver):
    """Resolves the emulated hostnames to 127.0.0.1:<port>, whatever port the URL named; refuses others."""

    def __init__(self, hostnames: tuple[str, ...], port: int, address: str = "127.0.0.1") -> None:
        self._hostnames = frozenset(hostnames)
        self._port = port
        self._address = address
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        if host not in self._hostnames:
            raise OSError(socket.EAI_NONAME, f"{host} is not an emulated exchange host")
        return [
            {
                "hostname": host,
                "host": self._address,
                "port": self._port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


def loopback_session(emulator: Emulator) -> aiohttp.ClientSession:
    """An aiohttp session that reaches the emulator for every exchange hostname (the caller closes it)."""
    connector = aiohttp.TCPConnector(
        resolver=LoopbackResolver(emulator.hostnames, emulator.port),
        ssl=emulator.certificates.client_context(),
        family=socket.AF_INET,
    )
    return aiohttp.ClientSession(connector=connector)


def exchange_config(
    emulator: Emulator,
    venue: str,
    session: aiohttp.ClientSession,
    *,
    environment: str = "live",
    lean: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """The constructor config for ccxt.async_support.<venue>: credentials, the session, the lean options."""
    config: dict[str, Any] = {}
    if lean:
        config = {key: dict(value) for key, value in LEAN_CONFIG[venue].items()}
    config.update(emulator.venue(venue, environment).credentials.ccxt_config())
    config["session"] = session  # ccxt then sets own_session=False: close() leaves the session to us
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


@asynccontextmanager
async def emulated_exchange(
    emulator: Emulator,
    venue: str,
    *,
    environment: str = "live",
    lean: bool = True,
    **overrides: Any,
) -> AsyncIterator[Any]:
    """The real ccxt.async_support class for `venue`, talking to the emulator; closed on exit.

    environment="sandbox" calls set_sandbox_mode(True) (binance testnet, bybit testnet, okx demo header);
    "demo" calls enable_demo_trading(True) (binance, bybit).
    overrides are ccxt constructor settings (secret="wrong", timeout=500, enableRateLimit=False, ...).
    """
    session = loopback_session(emulator)
    exchange = getattr(ccxt_async, venue)(
        exchange_config(emulator, venue, session, environment=environment, lean=lean, **overrides)
    )
    if environment == "sandbox":
        exchange.set_sandbox_mode(True)
    elif environment == "demo":  # binance demo-api / bybit api-demo (needs environments=(..., "demo"))
        exchange.enable_demo_trading(True)
    try:
        yield exchange
    finally:
        await exchange.close()
        await session.close()
