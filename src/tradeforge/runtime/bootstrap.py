"""The one composition root: build(settings, mode) wires every engine, adapter and port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tradeforge.adapters.clocks import WallClock
from tradeforge.bus import topics
from tradeforge.bus.message_bus import MessageBus
from tradeforge.domain.instruments import Instrument
from tradeforge.engine.data_engine import DataEngine
from tradeforge.engine.instruments import InstrumentRegistry
from tradeforge.engine.journal import CausalPublisher, Journal, NullJournal, SyncJournal, ThreadedJournal
from tradeforge.engine.order_cache import OrderCache
from tradeforge.engine.order_manager import OrderManager
from tradeforge.engine.portfolio import Portfolio
from tradeforge.engine.reconciliation_report import VenueGate
from tradeforge.engine.recorder import EphemeralRecorder, UnitRecorder
from tradeforge.engine.risk_control import LIMITS_KEY, STATE_KEY, RiskControl, restore_risk
from tradeforge.engine.risk_engine import RiskEngine
from tradeforge.engine.risk_rules import RiskLimits, TradingState
from tradeforge.engine.risk_view import BooksRiskView
from tradeforge.engine.router import OrderRouter
from tradeforge.ports.clock import Clock
from tradeforge.ports.persistence import UnitOfWorkFactory
from tradeforge.ports.venue import Venue
from tradeforge.runtime.reconcilers import ServiceReconciliation
from tradeforge.runtime.settings import Settings
from tradeforge.runtime.system import StoredState, TradingSystem, load_stored_state
from tradeforge.runtime.venues import live_venue_closer, start_live_venues
from tradeforge.security.api_keys import ApiKeyService
from tradeforge.strategies.runner import MemoryStateStore, SettingsStateStore, StrategyRunner

if TYPE_CHECKING:
    from tradeforge.adapters.paper.venue import PaperVenueConfig

logger = logging.getLogger(__name__)


class Mode(StrEnum):
    PAPER = "paper"  # the service: wall clock, group commit on a journal thread, replayed feed
    SYNC = "sync"  # same parts, commits on the caller's thread (CLI, tests, in-process benchmarks)
    BACKTEST = "backtest"  # same engines, simulated clock, nothing stored, orders wait for the next bar


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
    paper: PaperVenueConfig | None = None,
) -> TradingSystem:
    """Assemble and recover a trading system. PAPER mode needs the running event loop, which is
    where engine work happens and where the journal hands committed units back. `paper` replaces
    the paper venue's configuration derived from settings (the backtester sets its own rules)."""
    from tradeforge.adapters.paper.venue import PaperVenue

    clock = clock or WallClock()
    bus = MessageBus()
    if uow_factory is None:
        if mode is Mode.BACKTEST:
            from tradeforge.adapters.memory.store import InMemoryStore

            uow_factory = InMemoryStore()
        else:
            uow_factory = sql_unit_of_work_factory(settings)
    stored = load_stored_state(uow_factory, STATE_KEY, LIMITS_KEY)

    publish = CausalPublisher(bus)

    halt_on_failure = _StorageFailureHalt()
    journal: Journal
    if mode is Mode.PAPER:
        event_loop = loop or asyncio.get_running_loop()

        def deliver(callback: Callable[[], None]) -> None:
            event_loop.call_soon_threadsafe(callback)

        journal = ThreadedJournal(
            uow_factory, publish, deliver, max_batch=settings.journal_max_batch, on_failure=halt_on_failure
        )
    elif mode is Mode.BACKTEST:
        journal = NullJournal(publish)
    else:
        journal = SyncJournal(uow_factory, publish, group=group_commit, on_failure=halt_on_failure)

    instrument_list = instruments_from_settings(settings)
    instruments = InstrumentRegistry(instrument_list)
    cache = OrderCache()
    portfolio = Portfolio(instruments, cache.working_for_account)
    limits, state, reason = _risk_settings(settings, stored)
    risk = RiskEngine(limits, BooksRiskView(portfolio, cache), clock, state, reason)
    halt_on_failure.risk = risk
    recorder = UnitRecorder(journal) if journal.persists else EphemeralRecorder(journal)
    paper_config = paper if paper is not None else _paper_config(settings, mode)
    paper_venue = PaperVenue(instrument_list, clock, paper_config, {})
    venues: dict[str, Venue] = {paper_venue.name: paper_venue}
    # --- live venues and routing (issue #4; runtime/venues.py): ccxt venues next to the paper venue
    live = []
    if mode is Mode.PAPER:
        live = start_live_venues(settings, instruments, clock, uow_factory, event_loop)
    venues.update((venue.name, venue) for venue in live)
    reconciliation = None
    if live:
        gate = VenueGate(BooksRiskView(portfolio, cache), clock)
        reconciliation = ServiceReconciliation(settings, live, gate)
    router = OrderRouter(
        instruments,
        live,
        now_ms=clock.now_ms,
        accounts=reconciliation.accounts if reconciliation is not None else None,
        admits=reconciliation.admits if reconciliation is not None else None,
    )
    # --- end live venues
    # Subscription order is the processing order of a bar: match resting orders, then mark prices.
    bus.subscribe(topics.ALL_BARS, paper_venue.on_bar)
    bus.subscribe(topics.ALL_BARS, portfolio.on_bar)
    bus.subscribe(topics.ALL_TICKS, paper_venue.on_tick)
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
        router=router,
        venue_gate=reconciliation.check if reconciliation is not None else None,
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
    if reconciliation is not None:
        reconciliation.attach(system, event_loop)
        system.reconciliation = reconciliation
        system.closers.append(reconciliation.stop)  # before the venues close
    if live:
        system.closers.append(live_venue_closer(live, event_loop))
    # Empty here; the API lifespan adds and starts settings.strategies after recovery.
    if mode is Mode.BACKTEST:
        # A backtest never restarts midway: state lives in memory and is saved when it stops.
        system.strategies = StrategyRunner(system, MemoryStateStore(), save_every_hook=False)
    else:
        system.strategies = StrategyRunner(system, SettingsStateStore(system))
    system.recover(stored)
    if reconciliation is not None:
        reconciliation.begin()
    return system


def _paper_config(settings: Settings, mode: Mode) -> PaperVenueConfig:
    from tradeforge.adapters.paper.slippage import FixedBps, NoSlippage
    from tradeforge.adapters.paper.venue import PaperVenueConfig

    slippage = FixedBps(settings.paper.slippage_bps) if settings.paper.slippage_bps else NoSlippage()
    return PaperVenueConfig(
        # A backtest fills market orders at the next bar's open; paper trading as settings say.
        fill_market_on_submit=mode is not Mode.BACKTEST and settings.paper.fill_at == "last_close",
        max_volume_share=settings.paper.max_volume_share,
        limit_fill_on_touch=settings.paper.limit_fill_on_touch,
        slippage=slippage,
    )


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
