"""Test systems for the ccxt adapter: the real OMS with a CcxtVenue talking to the exchange emulator."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from tests.exchange_emulator import Emulator, EmulatorConfig, loopback_session

from tradeforge.adapters.ccxt import (
    BreakerConfig,
    CcxtVenue,
    CcxtVenueConfig,
    ExchangeOptions,
    RetryPolicy,
    VenueCredentials,
    make_ccxt_venue,
)
from tradeforge.adapters.ccxt.capabilities import RateBudget
from tradeforge.adapters.clocks import WallClock
from tradeforge.bus import topics
from tradeforge.bus.message_bus import MessageBus
from tradeforge.domain.balances import Balance
from tradeforge.domain.commands import AmendOrder, CancelOrder, SubmitOrder
from tradeforge.domain.events import OrderEvent
from tradeforge.domain.fills import Fill, OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order, OrderType, TimeInForce
from tradeforge.engine.instruments import InstrumentRegistry
from tradeforge.engine.journal import NullJournal, Publication
from tradeforge.engine.order_cache import OrderCache
from tradeforge.engine.order_manager import OrderManager
from tradeforge.engine.portfolio import Portfolio
from tradeforge.engine.recorder import EphemeralRecorder
from tradeforge.engine.risk_engine import RiskEngine
from tradeforge.engine.risk_rules import RiskLimits
from tradeforge.engine.risk_view import BooksRiskView

T = TypeVar("T")
VENUES = ("binance", "bybit", "okx", "kraken")
SYMBOL = "BTC/USDT"
ACCOUNT = "main"
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.02, max_delay_s=0.2, seed=7)
# The venues' real budgets (kraken: 15 calls, 0.33/s) would make every test wait; the budget tests
# set their own.
AMPLE_BUDGET = RateBudget(capacity=10_000, refill_per_s=10_000)
# Balance checks and price bands left to the venue, so that venue refusals reach the OMS.
VENUE_CHECKS = RiskLimits(
    price_band=None, check_balance=False, max_submits_per_second=None, max_open_orders=None
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """pytest-asyncio is not a dependency: each test runs its scenario on a fresh event loop."""
    return asyncio.run(coro)


def emulator(*venues: str, **config: Any) -> Emulator:
    return Emulator(EmulatorConfig(venues=venues or VENUES, **config))


def credentials(emu: Emulator, venue: str, **replace: str) -> VenueCredentials:
    key = emu.venue(venue).credentials
    values = {"api_key": key.api_key, "secret": key.secret, "password": key.password, **replace}
    return VenueCredentials(**values)


def venue_for(emu: Emulator, venue: str, *, timeout_ms: int = 1_000, **kwargs: Any) -> CcxtVenue:
    """make_ccxt_venue with the emulator's session and credentials, fast retries and no ccxt throttle
    (ccxt's limiter stays on in production; here it would only add kraken's 1-3 s per call)."""
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("budget", AMPLE_BUDGET)
    kwargs.setdefault("config", CcxtVenueConfig(poll_interval_ms=0, balance_interval_ms=0))
    kwargs.setdefault("breaker", BreakerConfig(failure_threshold=50, cool_down_s=30))
    return make_ccxt_venue(
        venue,
        kwargs.pop("credentials", None) or credentials(emu, venue),
        sandbox=kwargs.pop("sandbox", False),
        session_factory=lambda: loopback_session(emu),
        exchange=ExchangeOptions(enable_rate_limit=False, timeout_ms=timeout_ms, close_grace_ms=0),
        **kwargs,
    )


@asynccontextmanager
async def started(venue: CcxtVenue) -> AsyncIterator[CcxtVenue]:
    await venue.start()
    try:
        yield venue
    finally:
        await venue.close()


@dataclass
class OmsSystem:
    """The real OrderManager, portfolio and risk engine with one CcxtVenue as the venue.

    Risk leaves balance checks and price bands to the venue so that venue refusals reach the OMS;
    the portfolio starts from the venue's balances, so after fills both books must agree exactly."""

    venue: CcxtVenue
    bus: MessageBus
    oms: OrderManager
    portfolio: Portfolio
    events: list[OrderEvent] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def build(cls, venue: CcxtVenue) -> OmsSystem:
        clock = WallClock()
        bus = MessageBus()
        instruments = InstrumentRegistry(venue.instruments())
        cache = OrderCache()
        portfolio = Portfolio(instruments, cache.working_for_account)
        portfolio.load([], venue.balances(ACCOUNT))

        risk = RiskEngine(VENUE_CHECKS, BooksRiskView(portfolio, cache), clock)
        oms = OrderManager(
            clock=clock,
            bus=bus,
            instruments=instruments,
            venues={venue.name: venue},
            cache=cache,
            portfolio=portfolio,
            risk=risk,
            recorder=EphemeralRecorder(NullJournal(publisher(bus))),
        )
        system = cls(venue, bus, oms, portfolio)
        bus.subscribe(topics.ALL_ORDER_EVENTS, system.events.append)
        bus.subscribe(topics.ALL_FILLS, system.fills.append)
        return system

    def submit(
        self,
        kind: OrderType,
        side: OrderSide,
        quantity: str,
        price: str | None = None,
        *,
        stop: str | None = None,
        client_order_id: str | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        expire_at: int | None = None,
        symbol: str = SYMBOL,
    ) -> Order:
        cid = client_order_id or f"tf-{self.venue.name}-{next(self._ids)}"
        return self.oms.submit(
            SubmitOrder(
                ACCOUNT,
                cid,
                symbol,
                side,
                kind,
                Decimal(quantity),
                Decimal(price) if price is not None else None,
                Decimal(stop) if stop is not None else None,
                tif,
                expire_at,
                venue=self.venue.name,
            )
        )

    def cancel(self, order: Order) -> None:
        self.oms.cancel(CancelOrder(ACCOUNT, order.id))

    def amend(self, order: Order, quantity: str | None = None, price: str | None = None) -> None:
        self.oms.amend(
            AmendOrder(
                ACCOUNT,
                order.id,
                Decimal(quantity) if quantity is not None else None,
                Decimal(price) if price is not None else None,
            )
        )

    def events_of(self, order: Order) -> list[str]:
        return [type(e).__name__ for e in self.events if e.order_id == order.id]

    def instrument(self, symbol: str = SYMBOL) -> Instrument:
        return next(i for i in self.venue.instruments() if i.symbol == symbol)

    async def settle(self) -> None:
        """Finish every task the OMS's calls started, then one poll round, then its tasks."""
        await self.venue.drain()
        await self.venue.poll()
        await self.venue.drain()


def publisher(bus: MessageBus) -> Callable[[Sequence[Publication]], None]:
    """What a journal calls after commit: each publication onto the bus, in order."""

    def publish(publications: Sequence[Publication]) -> None:
        for topic, message in publications:
            bus.publish(topic, message)

    return publish


def book_totals(balances: Sequence[Balance]) -> dict[str, Decimal]:
    return {b.asset: b.total for b in balances if b.total}


def emulator_totals(emu: Emulator, venue: str) -> dict[str, Decimal]:
    return {asset: b.total for asset, b in emu.venue(venue).state.balances.items() if b.total}
