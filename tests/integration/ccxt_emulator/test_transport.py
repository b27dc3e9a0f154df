"""The transport redirect: real hostnames and URLs, the emulator's port, verified TLS, separate sandboxes."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import pytest
from tests.exchange_emulator.server import EmulatorConfig
from tests.exchange_emulator.threaded import EmulatorThread
from tests.exchange_emulator.transport import (
    LoopbackResolver,
    emulated_exchange,
    exchange_config,
    loopback_session,
)

from .harness import SYMBOL, emulator, run

pytestmark = pytest.mark.timeout(60)


def test_the_resolver_returns_the_emulator_port_and_aiohttp_connects_there() -> None:
    async def scenario() -> None:
        async with emulator("binance") as emu:
            resolver = LoopbackResolver(emu.hostnames, emu.port)
            [answer] = await resolver.resolve("api.binance.com", 443, socket.AF_INET)
            assert (answer["host"], answer["port"]) == ("127.0.0.1", emu.port)
            with pytest.raises(OSError):
                await resolver.resolve("api.example.com", 443)
            connector = aiohttp.TCPConnector(resolver=resolver, ssl=emu.certificates.client_context())
            # the URL names port 443; the connection goes to the emulator's ephemeral port
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.get("https://api.binance.com/api/v3/time") as response,
            ):
                assert response.status == 200 and "serverTime" in await response.json()
            assert resolver.lookups == ["api.binance.com", "api.example.com", "api.binance.com"]
            assert emu.requests[-1].path == "/api/v3/time"

    run(scenario())


def test_tls_is_verified_against_the_test_ca_only() -> None:
    async def scenario() -> None:
        async with emulator("binance") as emu:
            resolver = LoopbackResolver(emu.hostnames, emu.port)
            untrusting = aiohttp.TCPConnector(resolver=resolver, ssl=ssl.create_default_context())
            async with aiohttp.ClientSession(connector=untrusting) as session:
                with pytest.raises(aiohttp.ClientConnectorCertificateError):
                    await session.get("https://api.binance.com/api/v3/time")
            assert "api.kraken.com" not in emu.hostnames  # only the emulated venues get certificate names

    run(scenario())


def test_ccxt_keeps_its_production_urls_and_leaves_the_session_to_its_owner() -> None:
    async def scenario() -> None:
        async with emulator("binance", "kraken") as emu:
            session = loopback_session(emu)
            exchange = ccxt_async.binance(exchange_config(emu, "binance", session))
            assert exchange.urls["api"]["public"] == "https://api.binance.com/api/v3"
            assert exchange.own_session is False
            await exchange.load_markets()
            await exchange.close()
            assert not session.closed  # ccxt only drops its reference; the test closes what it made
            await session.close()
            unknown = ccxt_async.bitstamp({"session": loopback_session(emu)})
            with pytest.raises(ccxt.ExchangeNotAvailable):  # not emulated: refused by the resolver
                await unknown.fetch_ticker(SYMBOL)
            await unknown.session.close()
            await unknown.close()

    run(scenario())


def test_default_ccxt_options_make_the_hidden_calls_the_lean_options_avoid() -> None:
    async def scenario() -> None:
        async with emulator("binance") as emu:
            session = loopback_session(emu)
            exchange = ccxt_async.binance(exchange_config(emu, "binance", session, lean=False))
            with pytest.raises(ccxt.ExchangeNotAvailable):  # the emulator answers 404 to sapi/*
                await exchange.load_markets()
            await exchange.close()
            await session.close()
            assert emu.requests[0].path.startswith("/sapi/")
            assert emu.venue("binance").stats.verified == 0  # a 404 route is never treated as verified

    run(scenario())


@pytest.mark.parametrize(
    ("venue", "host"),
    [("binance", "testnet.binance.vision"), ("bybit", "api-testnet.bybit.com"), ("okx", "www.okx.com")],
)
def test_sandbox_mode_reaches_separate_books_with_separate_keys(venue: str, host: str) -> None:
    async def scenario() -> None:
        async with emulator(venue) as emu:
            sandbox, live = emu.venue(venue, "sandbox"), emu.venue(venue)
            session = loopback_session(emu)
            config = exchange_config(emu, venue, session, environment="sandbox", enableRateLimit=False)
            exchange = getattr(ccxt_async, venue)(config)
            exchange.set_sandbox_mode(True)
            try:
                await exchange.load_markets()
                order = await exchange.create_order(SYMBOL, "limit", "buy", 0.01, 50_000)
            finally:
                await exchange.close()
                await session.close()
            assert order["id"] in sandbox.state.orders and not live.state.orders
            assert sandbox.stats.verified == 1 and live.stats.verified == 0
            assert sandbox.credentials.api_key != live.credentials.api_key
            assert host in emu.hostnames

    run(scenario())


def test_binance_refuses_parameters_its_endpoint_does_not_read() -> None:
    async def scenario() -> None:
        async with emulator("binance") as emu:
            session = loopback_session(emu)
            exchange = ccxt_async.binance(exchange_config(emu, "binance", session, enableRateLimit=False))
            try:
                await exchange.load_markets()
                with pytest.raises(ccxt.BadRequest, match="-1104"):
                    await exchange.fetch_open_orders(SYMBOL, None, None, {"clientOrderId": "x"})
            finally:
                await exchange.close()
                await session.close()

    run(scenario())


def test_the_emulator_runs_in_a_background_thread_for_synchronous_callers(tmp_path: Path) -> None:
    with EmulatorThread(EmulatorConfig(venues=("okx",))) as running:
        running.call(lambda emu: emu.venue("okx").set_price(SYMBOL, "81000"))

        async def client() -> float:
            async with emulated_exchange(running.emulator, "okx", enableRateLimit=False) as ex:
                return float((await ex.fetch_ticker(SYMBOL))["last"])

        assert run(client()) == 81000.0
        pem = running.write_ca(tmp_path / "ca.pem").read_bytes()
        assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
        assert running.call(lambda emu: len(emu.requests)) == 2  # load_markets + fetch_ticker
