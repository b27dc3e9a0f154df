"""Instruments from load_markets, the circuit breaker, and the request budget shared through Redis."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.conftest import REDIS_URL
from tests.exchange_emulator import Fault, FaultKind, RequestMatch

from tradeforge.adapters.ccxt import VENUES as CAPABILITIES
from tradeforge.adapters.ccxt import (
    BreakerConfig,
    BreakerSnapshot,
    BreakerState,
    VenueCredentials,
    VenueError,
    make_ccxt_venue,
)
from tradeforge.adapters.ccxt.capabilities import RateBudget
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderStatus, OrderType
from tradeforge.ports.venue import VenueRequestRefused

from .support import SYMBOL, VENUES, OmsSystem, emulator, run, started, venue_for

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("venue", VENUES)
def test_instruments_from_load_markets_carry_the_venue_grid(venue: str) -> None:
    async def scenario() -> None:
        async with emulator(venue) as emu, started(venue_for(emu, venue)) as adapter:
            listed = {i.symbol: i for i in adapter.instruments()}
            assert set(listed) == {"BTC/USDT", "ETH/USDT"}
            exchange = adapter.client.handle.exchange
            for symbol, instrument in listed.items():
                expected = emu.venue(venue).state.instruments[symbol]
                assert (instrument.tick_size, instrument.lot_size) == (expected.tick, expected.lot)
                assert instrument.min_quantity == max(expected.min_qty, expected.lot)
                market = exchange.markets[symbol]
                assert instrument.maker_fee == Decimal(str(market["maker"]))
                assert instrument.taker_fee == Decimal(str(market["taker"]))
                cost_min = market["limits"]["cost"]["min"]
                assert instrument.min_notional == (Decimal(str(cost_min)) if cost_min else 0)
                assert (instrument.base, instrument.quote, instrument.venue) == (*symbol.split("/"), venue)
            # load_markets made one request with the lean options (no hidden calls)
            public = [r.path for r in emu.requests_for(venue) if not r.private]
            assert len(public) == 1

    run(scenario())


def test_kraken_has_no_sandbox_and_ftx_is_not_supported() -> None:
    async def scenario() -> None:
        async with emulator("kraken") as emu:
            with pytest.raises(ValueError, match="no sandbox"):
                venue_for(emu, "kraken", sandbox=True)
            with pytest.raises(ValueError, match="closed in November 2022"):
                make_ccxt_venue("ftx", VenueCredentials("key", "secret"), sandbox=False)

    run(scenario())


def test_sandbox_mode_uses_the_testnet_books() -> None:
    async def scenario() -> None:
        async with emulator("binance") as emu:
            from .support import credentials

            testnet = emu.venue("binance", "sandbox")
            keys = testnet.credentials
            creds = credentials(emu, "binance", api_key=keys.api_key, secret=keys.secret)
            async with started(venue_for(emu, "binance", credentials=creds, sandbox=True)) as adapter:
                system = OmsSystem.build(adapter)
                order = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "80000")
                await system.settle()
                assert order.status is OrderStatus.OPEN
                assert order.venue_order_id in testnet.state.orders
                assert not emu.venue("binance").state.orders  # live books untouched

    run(scenario())


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_circuit_breaker_opens_refuses_orders_half_opens_and_closes() -> None:
    clock = FakeMonotonic()
    changes: list[BreakerState] = []

    async def scenario() -> None:
        async with emulator("binance") as emu:
            adapter = venue_for(
                emu, "binance", breaker=BreakerConfig(failure_threshold=3, cool_down_s=30), monotonic=clock
            )
            adapter.client.breaker.on_change(lambda snap: changes.append(snap.state))
            async with started(adapter):
                system = OmsSystem.build(adapter)
                resting = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "80000")
                await system.settle()
                emu.faults.inject(
                    Fault(FaultKind.SERVER_ERROR, status=503), RequestMatch(private_only=True), 100
                )
                with pytest.raises(VenueError):
                    await adapter.fetch_balances()  # 3 consecutive 503s open the circuit
                snapshot: BreakerSnapshot = adapter.breaker_snapshot()
                assert (snapshot.state, snapshot.consecutive_failures) == (BreakerState.OPEN, 3)
                seen = len(emu.requests)

                refused = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "80000")
                assert refused.status is OrderStatus.REJECTED
                assert refused.reject_reason == "venue binance unavailable: circuit open"
                with pytest.raises(VenueRequestRefused, match="circuit open"):
                    adapter.amend(resting, Decimal("0.02"), Decimal("80000"))
                await system.settle()
                assert len(emu.requests) == seen  # nothing went out while open

                clock.now += 30
                assert adapter.breaker_snapshot().state is BreakerState.HALF_OPEN
                half = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "80000")
                assert half.reject_reason == "venue binance unavailable: circuit half-open"
                await adapter.poll()  # the probe meets another 503: open again
                assert adapter.breaker_snapshot().state is BreakerState.OPEN
                assert len(emu.requests) == seen + 1

                emu.faults.clear()
                clock.now += 30
                await adapter.poll()  # the probe passes: closed, and the poll follows orders again
                assert adapter.breaker_snapshot().state is BreakerState.CLOSED
                accepted = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.01", "80000")
                await system.settle()
                assert accepted.status is OrderStatus.OPEN and resting.status is OrderStatus.OPEN

    run(scenario())
    assert changes == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_two_adapters_share_one_request_budget_through_redis(redis_prefix: str) -> None:
    budget = RateBudget(capacity=10, refill_per_s=0.01)  # refills 1 token in 100 s: none in this test

    async def scenario() -> None:
        async with emulator("binance") as emu:
            shared = {"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix, "budget": budget}
            async with started(venue_for(emu, "binance", **shared)) as one:
                assert 7.9 < one.remaining_budget() < 8.1  # load_markets + fetch_balance
                async with started(venue_for(emu, "binance", **shared)) as two:
                    assert 5.9 < two.remaining_budget() < 6.1  # the other's 2 tokens are gone too
                    await one.fetch_balances()
                    assert 4.9 < one.remaining_budget() < 5.1
                    assert await two.client.budget.try_acquire(4.8) == 0
                    wait = await one.client.budget.try_acquire(1)
                    assert wait > 50  # empty for everyone: the next whole token is ~100 s away

    run(scenario())


def test_a_429_pauses_every_process_sharing_the_budget(redis_prefix: str) -> None:
    async def scenario() -> None:
        async with emulator("bybit") as emu:
            shared = {"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix}
            async with (
                started(venue_for(emu, "bybit", **shared)) as one,
                started(venue_for(emu, "bybit", **shared)) as two,
            ):
                emu.faults.inject(
                    Fault(FaultKind.RATE_LIMIT, retry_after_s=20), RequestMatch(private_only=True)
                )
                with pytest.raises(VenueError) as raised:
                    await one.client.call("fetch_balance")
                assert raised.value.retry_after_s == 20
                assert 15 < await two.client.budget.try_acquire(1) <= 20

    run(scenario())


def test_symbols_filter_limits_the_instruments() -> None:
    async def scenario() -> None:
        async with emulator("okx") as emu, started(venue_for(emu, "okx", symbols=[SYMBOL])) as adapter:
            assert [i.symbol for i in adapter.instruments()] == [SYMBOL]
            assert CAPABILITIES["okx"].supports(OrderType.STOP)

    run(scenario())
