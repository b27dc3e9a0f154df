"""The one composition root: build(settings, mode) wires every engine, adapter and port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tradeforge.adapters.clocks import WallClock
from tradeforge.bus import topics
from tradeforge.bus.message_bus import MessageBus
from tradeforge.domain.instruments import Instrument
from tradeforge.engine.data_engine import DataEngine
from tradeforge.engine.instruments import InstrumentRegistry
from tradeforge.engine.journal import Journal, Publication, SyncJournal, ThreadedJournal
from tradeforge.engine.order_cache import OrderCache
from tradeforge.engine.order_manager import OrderManager
from tradeforge.engine.portfolio import Portfolio
from tradeforge.engine.recorder import UnitRecorder
from tradeforge.engine.risk_control import LIMITS_KEY, STATE_KEY, RiskControl, restore_risk
from tradeforge.engine.risk_engine import RiskEngine
from tradeforge.engine.risk_rules import RiskLimits, TradingState
from tradeforge.ports.clock import Clock
from tradeforge.ports.persistence import UnitOfWorkFactory
from tradeforge.ports.venue import Venue
from tradeforge.runtime.settings import Settings
from tradeforge.runtime.system import StoredState, TradingSystem, load_stored_state
from tradeforge.security.api_keys import ApiKeyService
from tradeforge.strategies.runner import SettingsStateStore, StrategyRunner

logger = logging.getLogger(__name__)


class Mode(StrEnum):
    PAPER = "paper"  # the service: wall clock, group commit on a journal thread, replayed feed
    SYNC = "sync"  # same parts, commits on the caller's thread (CLI, tests, in-process benchmarks)


def instruments_from_settings(settings: Settings, venue: str = "paper") -> list[Instrument]:
    return [
        Instrument.spot(
            item.symbol,
            venue,
            tick_size=item.tick_size,
            lot_size=item.lot_size,
            min_notional=item.min_notional,
            maker_fee=item.maker_fee,
            taker_fee=item.taker_fee,
        )
        for item in settings.instruments
    ]


def sql_unit_of_work_factory(settings: Settings) -> UnitOfWorkFactory:
    from tradeforge.adapters.sqlalchemy.database import make_engine
    from tradeforge.adapters.sqlalchemy.migrate import upgrade
    from tradeforge.adapters.sqlalchemy.uow import SqlAlchemyUnitOfWorkFactory

    if settings.auto_migrate:
        upgrade(settings.database_url)
    return SqlAlchemyUnitOfWorkFactory(make_engine(settings.database_url))


def build(
    settings: Settings,
    mode: Mode = Mode.SYNC,
    *,
    clock: Clock | None = None,
    uow_factory: UnitOfWorkFactory | None = None,
    group_commit: int = 1,
    loop: asyncio.AbstractEventLoop | None = None,
) -> TradingSystem:
    """Assemble and recover a trading system. PAPER mode needs the running event loop, which is
    where engine work happens and where the journal hands committed units back."""
    from tradeforge.adapters.paper.slippage import FixedBps, NoSlippage
    from tradeforge.adapters.paper.venue import PaperVenue, PaperVenueConfig

    clock = clock or WallClock()
    bus = MessageBus()
    uow_factory = uow_factory or sql_unit_of_work_factory(settings)
    stored = load_stored_state(uow_factory, STATE_KEY, LIMITS_KEY)

    def publish(publications: Sequence[Publication]) -> None:
        for topic, message in publications:
            bus.publish(topic, message)

    halt_on_failure = _StorageFailureHalt()
    journal: Journal
    if mode is Mode.PAPER:
        event_loop = loop or asyncio.get_running_loop()

        def deliver(callback: Callable[[], None]) -> None:
            event_loop.call_soon_threadsafe(callback)

        journal = ThreadedJournal(
            uow_factory, publish, deliver, max_batch=settings.journal_max_batch, on_failure=halt_on_failure
        )
    else:
        journal = SyncJournal(uow_factory, publish, group=group_commit, on_failure=halt_on_failure)

    instrument_list = instruments_from_settings(settings)
    instruments = InstrumentRegistry(instrument_list)
    cache = OrderCache()
    portfolio = Portfolio(instruments, cache.working_for_account)
    limits, state, reason = _risk_settings(settings, stored)
    risk = RiskEngine(limits, _RiskView(portfolio, cache), clock, state, reason)
    halt_on_failure.risk = risk
    recorder = UnitRecorder(journal)
    slippage = FixedBps(settings.paper.slippage_bps) if settings.paper.slippage_bps else NoSlippage()
    paper = PaperVenue(
        instrument_list,
        clock,
        PaperVenueConfig(
            fill_market_on_submit=True,
            max_volume_share=settings.paper.max_volume_share,
            limit_fill_on_touch=settings.paper.limit_fill_on_touch,
            slippage=slippage,
        ),
        {},
    )
    venues: dict[str, Venue] = {paper.name: paper}
    # Subscription order is the processing order of a bar: match resting orders, then mark prices.
    bus.subscribe(topics.ALL_BARS, paper.on_bar)
    bus.subscribe(topics.ALL_BARS, portfolio.on_bar)
    bus.subscribe(topics.ALL_TICKS, paper.on_tick)
    bus.subscribe(topics.ALL_TICKS, portfolio.on_tick)
    oms = OrderManager(
        clock=clock,
        bus=bus,
        instruments=instruments,
        venues=venues,
        cache=cache,
        portfolio=portfolio,
        risk=risk,
        recorder=recorder,
        stored_order=_stored_order_lookup(uow_factory),
    )
    system = TradingSystem(
        settings=settings,
        mode=mode.value,
        clock=clock,
        bus=bus,
        instruments=instruments,
        uow_factory=uow_factory,
        journal=journal,
        recorder=recorder,
        cache=cache,
        portfolio=portfolio,
        risk=risk,
        oms=oms,
        risk_control=RiskControl(bus, risk, recorder),
        data_engine=DataEngine(bus),
        venues=venues,
        api_keys=ApiKeyService(uow_factory, clock, settings.account_id),
    )
    # Empty here; the API lifespan adds and starts settings.strategies after recovery.
    system.strategies = StrategyRunner(system, SettingsStateStore(system))
    system.recover(stored)
    return system


class _StorageFailureHalt:
    """When a commit fails, memory is ahead of the database: halt trading (in memory — the database
    is what failed) so nothing more trades on unstored state. A restart recovers from the database."""

    risk: RiskEngine | None = None

    def __call__(self, error: BaseException) -> None:
        logger.critical("storage failed, trading halted until a restart: %s", error)
        if self.risk is not None:
            self.risk.set_state(TradingState.HALTED, f"storage failure: {type(error).__name__}", "system")


def _risk_settings(settings: Settings, stored: StoredState) -> tuple[Any, Any, str]:
    defaults = RiskLimits.from_dict(settings.risk) if settings.risk else RiskLimits()
    return restore_risk(stored.risk_state, stored.risk_limits, defaults)


def _stored_order_lookup(uow_factory: UnitOfWorkFactory) -> Any:
    def lookup(order_id: str) -> Any:
        with uow_factory() as uow:
            return uow.orders.get(order_id)

    return lookup


class _RiskView:
    """What the risk rules read: the portfolio's books and the OMS's working orders."""

    def __init__(self, portfolio: Portfolio, cache: OrderCache) -> None:
        self._portfolio = portfolio
        self._cache = cache
        self.instrument = portfolio.instrument
        self.last_price = portfolio.last_price
        self.position_quantity = portfolio.position_quantity
        self.working_orders = cache.working_for_account

    def available_balance(self, account_id: str, asset: str) -> Decimal:
        return self._portfolio.available_balance(account_id, asset)
