"""Test systems for reconciliation: the real OMS, portfolio, risk and recorder, a Reconciler, a CcxtVenue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from tests.exchange_emulator import Emulator
from tests.exchange_emulator.server import EmulatedVenue
from tests.integration.ccxt_adapter.support import (
    ACCOUNT,
    SYMBOL,
    VENUE_CHECKS,
    OmsSystem,
    emulator,
    publisher,
    started,
    venue_for,
)

from tradeforge.adapters.ccxt import CcxtVenue
from tradeforge.adapters.clocks import WallClock
from tradeforge.bus import topics
from tradeforge.bus.message_bus import MessageBus
from tradeforge.domain.events import Event
from tradeforge.engine.instruments import InstrumentRegistry
from tradeforge.engine.journal import SyncJournal
from tradeforge.engine.order_cache import OrderCache
from tradeforge.engine.order_manager import OrderManager
from tradeforge.engine.portfolio import Portfolio
from tradeforge.engine.reconciliation import Reconciler, ReconcilerConfig
from tradeforge.engine.reconciliation_events import (
    ReconciliationCompleted,
    ReconciliationCorrected,
    ReconciliationFlagged,
    VenueTradingStateChanged,
)
from tradeforge.engine.reconciliation_report import VenueGate
from tradeforge.engine.recorder import UnitRecorder
from tradeforge.engine.risk_engine import RiskEngine
from tradeforge.engine.risk_rules import TradingState
from tradeforge.engine.risk_view import BooksRiskView
from tradeforge.ports.persistence import AuditEntry, UnitOfWorkFactory

# Test client ids start "tf" (okx and kraken take no "-"); production's default adopts "api-".
TEST_CONFIG = ReconcilerConfig(adopt_prefixes=("tf",), retry_interval_s=0.05)


@dataclass(kw_only=True)
class ReconSystem(OmsSystem):
    """OmsSystem (its order helpers) with a storing recorder (every unit committed through the given
    unit of work), the venue gate wired into the OMS, and the reconciler between adapter and OMS."""

    cache: OrderCache
    gate: VenueGate
    reconciler: Reconciler
    uow_factory: UnitOfWorkFactory
    reconciliation: list[Event] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        venue: CcxtVenue,
        uow_factory: UnitOfWorkFactory,
        config: ReconcilerConfig = TEST_CONFIG,
        *,
        load_balances: bool = True,
    ) -> ReconSystem:
        clock = WallClock()
        bus = MessageBus()
        instruments = InstrumentRegistry(venue.instruments())
        cache = OrderCache()
        portfolio = Portfolio(instruments, cache.working_for_account)
        if load_balances:
            portfolio.load([], venue.balances(ACCOUNT))

        recorder = UnitRecorder(SyncJournal(uow_factory, publisher(bus)))
        view = BooksRiskView(portfolio, cache)
        gate = VenueGate(view, clock)
        oms = OrderManager(
            clock=clock,
            bus=bus,
            instruments=instruments,
            venues={venue.name: venue},
            cache=cache,
            portfolio=portfolio,
            risk=RiskEngine(VENUE_CHECKS, view, clock),
            recorder=recorder,
            venue_gate=gate.check,
        )
        reconciler = Reconciler(
            venue,
            oms_sink=oms.on_venue_report,
            cache=cache,
            portfolio=portfolio,
            recorder=recorder,
            gate=gate,
            clock=clock,
            config=config,
        )
        system = cls(
            venue=venue,
            bus=bus,
            oms=oms,
            portfolio=portfolio,
            cache=cache,
            gate=gate,
            reconciler=reconciler,
            uow_factory=uow_factory,
        )
        bus.subscribe(topics.ALL_ORDER_EVENTS, system.events.append)
        bus.subscribe(topics.ALL_FILLS, system.fills.append)
        bus.subscribe(topics.ALL_RECONCILIATION, system.reconciliation.append)
        return system

    # --- what was recorded ----------------------------------------------------------------------------
    def state(self) -> TradingState:
        return self.gate.state(self.venue.name)

    def corrections(self) -> list[ReconciliationCorrected]:
        return [e for e in self.reconciliation if isinstance(e, ReconciliationCorrected)]

    def flags(self) -> list[ReconciliationFlagged]:
        return [e for e in self.reconciliation if isinstance(e, ReconciliationFlagged)]

    def runs_completed(self) -> list[ReconciliationCompleted]:
        return [e for e in self.reconciliation if isinstance(e, ReconciliationCompleted)]

    def gate_changes(self) -> list[VenueTradingStateChanged]:
        return [e for e in self.reconciliation if isinstance(e, VenueTradingStateChanged)]

    def states(self) -> list[str]:
        return [e.state for e in self.gate_changes()]

    def audit(self, action_prefix: str = "") -> list[AuditEntry]:
        """The stored audit trail, oldest first."""
        entries: list[AuditEntry] = []
        cursor: str | None = None
        with self.uow_factory() as uow:
            while True:
                page = uow.audit.list(cursor, 500)
                entries.extend(page.items)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        return [e for e in reversed(entries) if e.action.startswith(action_prefix)]


@asynccontextmanager
async def reconciled(
    venue: str, store: UnitOfWorkFactory
) -> AsyncIterator[tuple[Emulator, EmulatedVenue, ReconSystem]]:
    """The opening most reconciliation tests share: `venue` on a fresh emulator with BTC/USDT at
    86,000, a started adapter for it (system.venue), and its ReconSystem over `store` after the
    start run. Yields (emulator, the emulated venue, the system)."""
    async with emulator(venue) as emu, started(venue_for(emu, venue)) as adapter:
        handle = emu.venue(venue)
        handle.set_price(SYMBOL, "86000")
        system = ReconSystem.build(adapter, store)
        await system.reconciler.recover()
        yield emu, handle, system
