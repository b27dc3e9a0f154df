"""The assembled trading system: its parts, recovery on start, and bar processing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tradeforge.bus.message_bus import MessageBus
from tradeforge.domain.commands import Command
from tradeforge.domain.data import Bar, Tick
from tradeforge.domain.orders import OrderStatus
from tradeforge.engine.data_engine import DataEngine
from tradeforge.engine.instruments import InstrumentRegistry
from tradeforge.engine.journal import Journal
from tradeforge.engine.order_cache import OrderCache
from tradeforge.engine.order_manager import OrderManager
from tradeforge.engine.portfolio import Portfolio
from tradeforge.engine.recorder import UnitHandle, UnitRecorder
from tradeforge.engine.risk_control import RiskControl
from tradeforge.engine.risk_engine import RiskEngine
from tradeforge.ports.clock import Clock
from tradeforge.ports.persistence import UnitOfWorkFactory
from tradeforge.ports.venue import Venue
from tradeforge.runtime.settings import Settings
from tradeforge.security.api_keys import ApiKeyService

if TYPE_CHECKING:
    from tradeforge.runtime.reconcilers import ServiceReconciliation
    from tradeforge.strategies.runner import StrategyRunner

logger = logging.getLogger(__name__)


@dataclass
class StoredState:
    """What the database held at start."""

    client_index: list[tuple[str, str, str]] = field(default_factory=list)
    working: list[Any] = field(default_factory=list)
    positions: list[Any] = field(default_factory=list)
    balances: list[Any] = field(default_factory=list)
    risk_state: str | None = None
    risk_limits: str | None = None


@dataclass
class TradingSystem:
    settings: Settings
    mode: str
    clock: Clock
    bus: MessageBus
    instruments: InstrumentRegistry
    uow_factory: UnitOfWorkFactory
    journal: Journal
    recorder: UnitRecorder
    cache: OrderCache
    portfolio: Portfolio
    risk: RiskEngine
    oms: OrderManager
    risk_control: RiskControl
    data_engine: DataEngine
    venues: dict[str, Venue]
    api_keys: ApiKeyService
    # Set by the composition root right after construction (the runner needs the system itself).
    strategies: StrategyRunner = field(init=False)
    # Run by close() before the journal closes (live venues finish their in-flight requests).
    closers: list[Callable[[], None]] = field(default_factory=list)
    # With live venues: their reconcilers, gate and accounts (runtime/reconcilers.py).
    reconciliation: ServiceReconciliation | None = None

    def send(self, command: Command) -> tuple[Any, UnitHandle]:
        """Handle a command in its own unit; the handle's future completes when it is durable."""
        with self.recorder.unit() as handle:
            result = self.bus.send(command)
        return result, handle

    def process_bar(self, bar: Bar) -> UnitHandle:
        """Feed one bar through the data engine (venue matching first, then everyone else)."""
        with self.recorder.unit() as handle:
            self.data_engine.on_bar(bar)
        return handle

    def process_tick(self, tick: Tick) -> UnitHandle:
        with self.recorder.unit() as handle:
            self.data_engine.on_tick(tick)
        return handle

    def on_timer(self) -> UnitHandle:
        """Housekeeping that must happen even without market data (GTD expiry on the paper venue,
        strategies' on_timer)."""
        now = self.clock.now_ms()
        with self.recorder.unit() as handle:
            for venue in self.venues.values():
                venue.on_time(now)
            self.strategies.on_timer(now)
        return handle

    def recover(self, stored: StoredState) -> None:
        """Reload orders, positions and balances, deposit starting balances into an empty book, and
        hand each venue the working orders it holds so trading continues where it stopped."""
        self.cache.load_index(stored.client_index)
        for order in stored.working:
            self.cache.add(order)
        self.portfolio.load(stored.positions, stored.balances)
        with self.recorder.unit():
            owned = self.reconciliation.venue_owned_accounts if self.reconciliation else frozenset()
            if not stored.balances and self.settings.account_id not in owned:
                # A venue-owned account holds what its venue holds (the first reconciliation books
                # it); the starting balances are paper money.
                now = self.clock.now_ms()
                account = self.settings.account_id
                for asset, amount in sorted(self.settings.starting_balances.items()):
                    balance = self.portfolio.deposit(account, asset, amount, now)
                    self.recorder.balance(balance)
                    self.recorder.audit(
                        now, "system", "balance.deposit", f"{account}:{asset}", {"amount": amount}
                    )
            balances = self.portfolio.all_balances()
            for name, venue in self.venues.items():
                resting = [
                    o for o in stored.working if o.venue == name and o.status is not OrderStatus.PENDING
                ]
                venue.restore(resting, balances)
            for order in stored.working:
                if order.status is OrderStatus.PENDING:
                    # Never acknowledged by the venue before the stop: send it now. The paper venue
                    # cannot have it; a remote venue adapter looks it up by client_order_id first.
                    self.venues[order.venue].submit(order)
        self.journal.flush()
        logger.info(
            "recovered %d working orders, %d positions, %d balances",
            len(stored.working),
            len(stored.positions),
            len(stored.balances),
        )

    def close(self) -> None:
        for closer in self.closers:
            try:
                closer()
            except Exception:
                logger.exception("closing %r failed; the journal closes anyway", closer)
        self.journal.close()


def load_stored_state(uow_factory: UnitOfWorkFactory, state_key: str, limits_key: str) -> StoredState:
    with uow_factory() as uow:
        return StoredState(
            client_index=uow.orders.client_order_index(),
            working=uow.orders.list_working(),
            positions=uow.positions.list_all(),
            balances=uow.balances.list_all(),
            risk_state=uow.settings.get(state_key),
            risk_limits=uow.settings.get(limits_key),
        )


def venue_names(venues: Sequence[Venue]) -> list[str]:
    return [venue.name for venue in venues]
