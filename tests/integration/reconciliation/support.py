"""Test systems for reconciliation: the real OMS, portfolio, risk and recorder, a Reconciler, a CcxtVenue."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from tests.integration.ccxt_adapter.support import ACCOUNT, SYMBOL

from tradeforge.adapters.ccxt import CcxtVenue
from tradeforge.adapters.clocks import WallClock
from tradeforge.bus import topics
from tradeforge.bus.message_bus import MessageBus
from tradeforge.domain.commands import AmendOrder, CancelOrder, SubmitOrder
from tradeforge.domain.events import Event, OrderEvent
from tradeforge.domain.fills import Fill, OrderSide
from tradeforge.domain.orders import Order, OrderType, TimeInForce
from tradeforge.engine.instruments import InstrumentRegistry
from tradeforge.engine.journal import Publication, SyncJournal
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
from tradeforge.engine.risk_rules import RiskLimits, TradingState
from tradeforge.engine.risk_view import BooksRiskView
from tradeforge.ports.persistence import AuditEntry, UnitOfWorkFactory

# Test client ids start "tf" (okx and kraken take no "-"); production's default adopts "api-".
TEST_CONFIG = ReconcilerConfig(adopt_prefixes=("tf",), retry_interval_s=0.05)


@dataclass
class ReconSystem:
    """One venue, the real engines, a storing recorder (every unit committed through the given unit
    of work), the venue gate wired into the OMS, and the reconciler between adapter and OMS."""

    venue: CcxtVenue
    bus: MessageBus
    oms: OrderManager
    portfolio: Portfolio
    cache: OrderCache
    gate: VenueGate
    reconciler: Reconciler
    uow_factory: UnitOfWorkFactory
    events: list[OrderEvent] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    reconciliation: list[Event] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

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

        def publish(publications: Sequence[Publication]) -> None:
            for topic, message in publications:
                bus.publish(topic, message)

        recorder = UnitRecorder(SyncJournal(uow_factory, publish))
        view = BooksRiskView(portfolio, cache)
        limits = RiskLimits(
            price_band=None, check_balance=False, max_submits_per_second=None, max_open_orders=None
        )
        gate = VenueGate(view, clock)
        oms = OrderManager(
            clock=clock,
            bus=bus,
            instruments=instruments,
            venues={venue.name: venue},
            cache=cache,
            portfolio=portfolio,
            risk=RiskEngine(limits, view, clock),
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
        system = cls(venue, bus, oms, portfolio, cache, gate, reconciler, uow_factory)
        bus.subscribe(topics.ALL_ORDER_EVENTS, system.events.append)
        bus.subscribe(topics.ALL_FILLS, system.fills.append)
        bus.subscribe(topics.ALL_RECONCILIATION, system.reconciliation.append)
        return system

    # --- orders -------------------------------------------------------------------------------------
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
        symbol: str = SYMBOL,
    ) -> Order:
        cid = client_order_id or f"tf-{self.venue.name}-{next(self._ids)}"
        command = SubmitOrder(
            ACCOUNT,
            cid,
            symbol,
            side,
            kind,
            Decimal(quantity),
            Decimal(price) if price is not None else None,
            Decimal(stop) if stop is not None else None,
            tif,
            None,
            venue=self.venue.name,
        )
        return self.oms.submit(command)

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

    async def settle(self) -> None:
        """Finish every task the OMS's calls started, then one poll round, then its tasks."""
        await self.venue.drain()
        await self.venue.poll()
        await self.venue.drain()

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
