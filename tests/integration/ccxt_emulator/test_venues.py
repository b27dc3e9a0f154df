"""Unmodified ccxt classes of the four venues against the emulator: market data, order lifecycle, errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest
from tests.exchange_emulator.faults import Fault, FaultKind, RequestMatch
from tests.exchange_emulator.orders import Status
from tests.exchange_emulator.server import Emulator
from tests.exchange_emulator.transport import emulated_exchange

from .harness import PROFILES, SYMBOL, VENUES, Profile, emulator, run

pytestmark = pytest.mark.timeout(60)


def exchange(emu: Emulator, venue: str, **overrides: Any) -> Any:
    # ccxt's own throttle stays on in production; here it would only add Kraken's 1-3 s per private call
    return emulated_exchange(emu, venue, enableRateLimit=False, **overrides)


async def market_data(emu: Emulator, profile: Profile) -> None:
    venue = emu.venue(profile.name)
    state = venue.state
    async with exchange(emu, profile.name) as ex:
        markets = await ex.load_markets()
        assert [r.path for r in emu.requests_for(profile.name)] == list(profile.lean_calls)
        instrument = state.instruments[SYMBOL]
        assert {"BTC/USDT", "ETH/USDT"} <= set(markets)
        assert Decimal(str(markets[SYMBOL]["precision"]["price"])) == instrument.tick

        ticker = await ex.fetch_ticker(SYMBOL)
        assert Decimal(str(ticker["last"])) == state.market.last(SYMBOL)
        assert Decimal(str(ticker["ask"])) == state.market.best_ask(SYMBOL)

        book = await ex.fetch_order_book(SYMBOL, 5)
        assert len(book["asks"]) == len(book["bids"]) == 5
        assert Decimal(str(book["bids"][0][0])) == state.market.best_bid(SYMBOL)
        assert book["asks"][0][0] < book["asks"][1][0] and book["bids"][0][0] > book["bids"][1][0]

        candles = await ex.fetch_ohlcv(SYMBOL, "1h", limit=3)
        expected = state.market.candles(SYMBOL, 60, None, 3)
        assert [c[0] for c in candles] == [c.open_ms for c in expected]
        assert [Decimal(str(c[4])) for c in candles] == [
            c.close for c in expected
        ]  # real 1m bars, aggregated

        since = expected[0].open_ms
        minutes = await ex.fetch_ohlcv(SYMBOL, "1m", since=since, limit=5)
        assert [c[0] for c in minutes] == [since + 60_000 * i for i in range(5)]


@pytest.mark.parametrize("venue", VENUES)
def test_market_data_with_only_the_lean_calls(venue: str) -> None:
    async def scenario() -> None:
        async with emulator(venue) as emu:
            await market_data(emu, PROFILES[venue])

    run(scenario())


async def order_lifecycle(emu: Emulator, profile: Profile) -> None:
    venue = emu.venue(profile.name)
    state = venue.state
    fetch = profile.fetch_params
    async with exchange(emu, profile.name) as ex:
        await ex.load_markets()
        balance = await ex.fetch_balance()
        assert balance["total"]["USDT"] == 100_000 and balance["free"]["BTC"] == 2

        market_cid, limit_cid = profile.cid("mkt-1"), profile.cid("lim-1")
        bought = await ex.create_order(SYMBOL, "market", "buy", 0.01, None, {"clientOrderId": market_cid})
        assert state.orders[bought["id"]].status is Status.FILLED
        assert state.orders[bought["id"]].client_order_id == market_cid

        price = float(state.market.last(SYMBOL) * Decimal("0.95"))
        placed = await ex.create_order(
            SYMBOL, "limit", "buy", 0.01, round(price, 0), {"clientOrderId": limit_cid}
        )
        order_id = placed["id"]
        fetched = await ex.fetch_order(order_id, SYMBOL, dict(fetch))
        assert (fetched["status"], fetched["clientOrderId"], fetched["amount"]) == ("open", limit_cid, 0.01)
        assert (await profile.lookup(ex, SYMBOL, limit_cid))["id"] == order_id

        open_orders = await ex.fetch_open_orders(SYMBOL)
        assert [o["id"] for o in open_orders] == [order_id]
        reserved = state.balances["USDT"].locked
        assert reserved >= Decimal("0.01") * Decimal(str(round(price, 0)))

        edited = await ex.edit_order(order_id, SYMBOL, "limit", "buy", 0.02, round(price - 100, 0))
        if profile.edit_keeps_id:
            assert state.orders[order_id].amendments == 1 and state.orders[order_id].quantity == Decimal(
                "0.02"
            )
            live_id = order_id
        else:
            assert state.orders[order_id].status is Status.CANCELED
            live_id = edited["id"]
            assert state.orders[live_id].quantity == Decimal("0.02")
        after_edit = await ex.fetch_order(live_id, SYMBOL, dict(fetch))
        assert (after_edit["amount"], after_edit["price"]) == (0.02, round(price - 100, 0))
        assert state.balances["USDT"].locked > reserved  # the reservation follows the new size

        await ex.cancel_order(live_id, SYMBOL)
        assert state.orders[live_id].status is Status.CANCELED
        assert (await ex.fetch_order(live_id, SYMBOL, dict(fetch)))["status"] == "canceled"
        assert state.balances["USDT"].locked == 0

        trades = await ex.fetch_my_trades(SYMBOL)
        fills = state.orders[bought["id"]].fills
        assert sorted(t["id"] for t in trades) == sorted(f.trade_id for f in fills)
        assert sum(Decimal(str(t["amount"])) for t in trades) == Decimal("0.01")
        assert sum(Decimal(str(t["fee"]["cost"])) for t in trades) == sum(f.fee for f in fills)

        final = await ex.fetch_balance()
        for asset in ("BTC", "USDT"):
            assert Decimal(str(final["total"][asset])) == state.balances[asset].total
    stats = venue.stats
    assert stats.verified >= 10 and stats.rejected == 0 and stats.unverified_accepted == 0
    state.check_invariants()


@pytest.mark.parametrize("venue", VENUES)
def test_order_lifecycle_with_client_order_ids(venue: str) -> None:
    async def scenario() -> None:
        async with emulator(venue) as emu:
            await order_lifecycle(emu, PROFILES[venue])

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_bad_credentials_are_refused_with_the_venue_error(venue: str) -> None:
    profile = PROFILES[venue]

    async def scenario() -> None:
        async with emulator(venue) as emu:
            async with exchange(emu, venue, secret=profile.bad_secret) as ex:
                with pytest.raises(ccxt.BaseError) as bad_secret:
                    await ex.fetch_balance()
            async with exchange(emu, venue, apiKey="not-a-key-of-this-account") as ex:
                with pytest.raises(ccxt.AuthenticationError):
                    await ex.create_order(SYMBOL, "limit", "buy", 0.01, 50_000)
            assert bad_secret.type is profile.bad_secret_error
            stats = emu.venue(venue).stats
            assert (stats.rejected, stats.verified, stats.unverified_accepted) == (2, 0, 0)
            assert not emu.venue(venue).state.orders

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_rate_limits_and_server_errors_map_to_ccxt_classes(venue: str) -> None:
    profile = PROFILES[venue]

    async def scenario() -> None:
        async with emulator(venue) as emu, exchange(emu, venue) as ex:
            await ex.load_markets()
            private = RequestMatch(private_only=True)
            emu.faults.inject(Fault(FaultKind.RATE_LIMIT, retry_after_s=3), private)
            with pytest.raises(profile.rate_limit_error):
                await ex.fetch_balance()
            assert ex.last_response_headers["Retry-After"] == "3"
            emu.faults.inject(Fault(FaultKind.SERVER_ERROR, status=503), private)
            with pytest.raises(ccxt.ExchangeNotAvailable):
                await ex.fetch_balance()
            emu.faults.inject(Fault(FaultKind.SERVER_ERROR, status=504), private)
            with pytest.raises(ccxt.RequestTimeout):
                await ex.fetch_balance()
            emu.faults.inject(Fault(FaultKind.SERVER_ERROR, status=502, applied=True), private)
            with pytest.raises(ccxt.ExchangeNotAvailable):
                await ex.create_order(
                    SYMBOL, "limit", "buy", 0.01, 50_000, {"clientOrderId": profile.cid("e-1")}
                )
            assert emu.venue(venue).order(client_order_id=profile.cid("e-1")) is not None  # placed, then 502
            assert (await ex.fetch_balance())["total"]["USDT"] == 100_000
            assert emu.faults.total(venue=venue) == 4

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_timeout_after_placement_is_resolved_by_client_order_id(venue: str) -> None:
    profile = PROFILES[venue]
    cid = profile.cid("to-1")

    async def scenario() -> None:
        async with emulator(venue) as emu, exchange(emu, venue, timeout=300) as ex:
            await ex.load_markets()
            fault = Fault(FaultKind.TIMEOUT, applied=True, hold_s=1.0)
            emu.faults.inject(fault, RequestMatch(method="POST", private_only=True))
            with pytest.raises(ccxt.RequestTimeout):
                await ex.create_order(SYMBOL, "limit", "buy", 0.01, 50_000, {"clientOrderId": cid})
            placed = emu.venue(venue).order(client_order_id=cid)
            assert placed is not None and placed.status is Status.NEW
            ex.timeout = 10_000  # the lookup is no longer held; a loaded host may need over 300 ms
            found = await profile.lookup(ex, SYMBOL, cid)
            assert (found["id"], found["status"]) == (placed.order_id, "open")
            assert [r.status for r in emu.requests_for(venue) if r.fault] == [None]  # no answer was sent

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_dropped_connections_before_and_after_applying(venue: str) -> None:
    profile = PROFILES[venue]

    async def scenario() -> None:
        async with emulator(venue) as emu, exchange(emu, venue) as ex:
            await ex.load_markets()
            posts = RequestMatch(method="POST", private_only=True)
            emu.faults.inject(Fault(FaultKind.DROP, applied=False), posts)
            emu.faults.inject(Fault(FaultKind.DROP, applied=True), posts)
            for tag in ("d-1", "d-2"):
                with pytest.raises(ccxt.ExchangeNotAvailable):
                    await ex.create_order(
                        SYMBOL, "limit", "buy", 0.01, 50_000, {"clientOrderId": profile.cid(tag)}
                    )
            venue_handle = emu.venue(venue)
            assert venue_handle.order(client_order_id=profile.cid("d-1")) is None
            assert venue_handle.order(client_order_id=profile.cid("d-2")) is not None
            assert emu.faults.total(FaultKind.DROP, venue) == 2

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_out_of_band_partial_fill_fill_and_cancel_are_visible(venue: str) -> None:
    profile = PROFILES[venue]

    async def scenario() -> None:
        async with emulator(venue) as emu, exchange(emu, venue) as ex:
            await ex.load_markets()
            handle = emu.venue(venue)
            first = await ex.create_order(
                SYMBOL, "limit", "buy", 0.02, 80_000, {"clientOrderId": profile.cid("o-1")}
            )
            second = await ex.create_order(
                SYMBOL, "limit", "sell", 0.01, 95_000, {"clientOrderId": profile.cid("o-2")}
            )
            handle.fill(first["id"], "0.005")
            partly = await ex.fetch_order(first["id"], SYMBOL, dict(profile.fetch_params))
            assert (partly["status"], partly["filled"], partly["remaining"]) == ("open", 0.005, 0.015)
            handle.fill(first["id"])
            handle.cancel(second["id"])
            done = await ex.fetch_order(first["id"], SYMBOL, dict(profile.fetch_params))
            gone = await ex.fetch_order(second["id"], SYMBOL, dict(profile.fetch_params))
            assert (done["status"], done["filled"], gone["status"]) == ("closed", 0.02, "canceled")
            assert await ex.fetch_open_orders(SYMBOL) == []
            assert len(await ex.fetch_my_trades(SYMBOL)) == 2
            counts = emu.faults.summary()[venue]
            assert counts == {"oob_cancel": 1, "oob_fill": 1, "oob_partial_fill": 1}
            handle.state.check_invariants()

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_resting_and_stop_orders_fill_when_the_test_moves_the_price(venue: str) -> None:
    profile = PROFILES[venue]
    stop = {"stopLossPrice": 85_000} if venue == "kraken" else {"triggerPrice": 85_000}

    async def scenario() -> None:
        async with emulator(venue) as emu, exchange(emu, venue) as ex:
            await ex.load_markets()
            handle = emu.venue(venue)
            handle.set_price(SYMBOL, "86000")
            resting = await ex.create_order(
                SYMBOL, "limit", "buy", 0.01, 85_500, {"clientOrderId": profile.cid("r-1")}
            )
            stopped = await ex.create_order(
                SYMBOL, "limit", "sell", 0.01, 84_900, {**stop, "clientOrderId": profile.cid("s-1")}
            )
            assert handle.state.orders[stopped["id"]].status is Status.UNTRIGGERED
            fills = handle.set_price(SYMBOL, "84950")
            assert {f.order_id for f in fills} == {resting["id"], stopped["id"]}
            for order_id in (resting["id"], stopped["id"]):
                fetched = await ex.fetch_order(order_id, SYMBOL, dict(profile.fetch_params))
                assert (fetched["status"], fetched["filled"]) == ("closed", 0.01)
            maker, taker = (
                handle.state.orders[resting["id"]].fills[0],
                handle.state.orders[stopped["id"]].fills[0],
            )
            assert maker.maker and not taker.maker and maker.price == Decimal("85500")
            handle.state.check_invariants()

    run(scenario())
