"""In-memory unit of work: stages changes over an InMemoryStore and applies them atomically on commit.

Semantics match the SQLAlchemy adapter (pagination, client_order_id uniqueness, insert-or-ignore of
idempotency records, ValidationError on duplicate keys) so backtests and unit tests behave like the
service. Objects are copied in and out: callers' later mutations never reach stored state."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Self

from tradeforge.adapters.memory.repositories import (
    InMemoryApiKeyRepository,
    InMemoryAuditRepository,
    InMemoryBalanceRepository,
    InMemoryFillRepository,
    InMemoryIdempotencyRepository,
    InMemoryOrderRepository,
    InMemoryOutboxRepository,
    InMemoryPositionRepository,
    InMemorySettingsRepository,
    duplicate,
)
from tradeforge.adapters.memory.store import InMemoryStore, StagedChanges
from tradeforge.ports.persistence import (
    ApiKeyRepository,
    AuditRepository,
    BalanceRepository,
    ChangeSet,
    FillRepository,
    IdempotencyRepository,
    OrderRepository,
    OutboxRepository,
    PositionRepository,
    SettingsRepository,
    UnitOfWorkFactory,
    apply_change_set,
)


class InMemoryUnitOfWork:
    """Use as `with uow: ...; uow.commit()`; leaving the block discards whatever was not committed.

    A repository call that raises stages nothing of that call. Commit applies everything atomically
    under the store lock, or nothing when a uniqueness check fails against what others committed."""

    orders: OrderRepository
    fills: FillRepository
    positions: PositionRepository
    balances: BalanceRepository
    outbox: OutboxRepository
    audit: AuditRepository
    api_keys: ApiKeyRepository
    idempotency: IdempotencyRepository
    settings: SettingsRepository

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._changes = changes = StagedChanges()
        # Concrete references for commit; the public attributes are typed as the port declares them.
        self._orders = self.orders = InMemoryOrderRepository(store, changes)
        self._fills = self.fills = InMemoryFillRepository(store, changes)
        self.positions = InMemoryPositionRepository(store, changes)
        self.balances = InMemoryBalanceRepository(store, changes)
        self._outbox = self.outbox = InMemoryOutboxRepository(store, changes)
        self._audit = self.audit = InMemoryAuditRepository(store, changes)
        self._api_keys = self.api_keys = InMemoryApiKeyRepository(store, changes)
        self._idempotency = self.idempotency = InMemoryIdempotencyRepository(store, changes)
        self.settings = InMemorySettingsRepository(store, changes)

    def __enter__(self) -> Self:
        self._changes.clear()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        store, changes = self._store, self._changes
        with store.lock:
            # Keys another unit of work committed since these were staged.
            self._orders.commit_check()
            self._api_keys.commit_check()
            for staged, committed, name in (
                (changes.fills, store.fills, "fill_id"),
                (changes.outbox, store.outbox, "id"),
                (changes.audit, store.audit, "id"),
            ):
                taken = next((key for key in staged if key in committed), None)
                if taken is not None:
                    raise duplicate(name, taken)
            self._orders.commit_apply()
            self._fills.commit_apply()
            store.positions.update(changes.positions)
            store.balances.update(changes.balances)
            self._outbox.commit_apply()
            self._audit.commit_apply()
            self._api_keys.commit_apply()
            self._idempotency.commit_apply()
            store.settings.update(changes.settings)
        changes.clear()

    def rollback(self) -> None:
        self._changes.clear()

    def write(self, changes: ChangeSet) -> None:
        apply_change_set(self, changes)


# The store is the factory: `InMemoryUnitOfWorkFactory()` is a fresh, empty database.
InMemoryUnitOfWorkFactory = InMemoryStore

if TYPE_CHECKING:  # static proof that the store and its units of work implement the port
    _factory: UnitOfWorkFactory = InMemoryStore()
