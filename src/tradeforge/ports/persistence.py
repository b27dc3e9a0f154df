"""Persistence port: repositories and the unit of work that commits state and its events together."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from tradeforge.domain.balances import Balance
from tradeforge.domain.fills import Fill
from tradeforge.domain.orders import Order, OrderStatus
from tradeforge.domain.positions import Position

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list. next_cursor is opaque to callers; None means there is no further page."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class OrderQuery:
    """Newest first (descending id). cursor is the id of the last item of the previous page."""

    account_id: str
    statuses: frozenset[OrderStatus] | None = None
    symbol: str | None = None
    strategy_id: str | None = None
    cursor: str | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class FillQuery:
    """Newest first (descending fill_id)."""

    account_id: str
    symbol: str | None = None
    order_id: str | None = None
    cursor: str | None = None
    limit: int = 100
    venue: str | None = None
    since_ms: int | None = None  # fills at or after this time only


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """An event serialized for delivery after commit; id orders events globally (assigned by the OMS)."""

    id: str
    ts: int
    topic: str
    type: str
    payload: str  # JSON


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    ts: int
    actor: str
    action: str
    target: str
    details: str  # JSON


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored API key: only the SHA-256 of the secret is kept."""

    id: str
    name: str
    role: str
    account_id: str
    key_hash: str
    created_at: int
    revoked_at: int | None = None


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """The first response to a request carrying an Idempotency-Key, replayed for later retries."""

    account_id: str
    key: str
    fingerprint: str  # hash of method + path + body, so a reused key with another body is refused
    status_code: int
    body: str  # JSON
    created_at: int


@dataclass(slots=True)
class ChangeSet:
    """Everything one or more handled messages changed, committed in one transaction.

    Objects are snapshots (copies), so the engine may keep mutating its live objects while a
    committer thread writes these."""

    orders: dict[str, Order] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    balances: dict[tuple[str, str], Balance] = field(default_factory=dict)
    outbox: list[OutboxRecord] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    idempotency: list[IdempotencyRecord] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)

    def merge(self, other: ChangeSet) -> None:
        self.orders.update(other.orders)
        self.fills.extend(other.fills)
        self.positions.update(other.positions)
        self.balances.update(other.balances)
        self.outbox.extend(other.outbox)
        self.audit.extend(other.audit)
        self.idempotency.extend(other.idempotency)
        self.settings.update(other.settings)

    def __bool__(self) -> bool:
        return bool(
            self.orders
            or self.fills
            or self.positions
            or self.balances
            or self.outbox
            or self.audit
            or self.idempotency
            or self.settings
        )


class OrderRepository(Protocol):
    def upsert_many(self, orders: Sequence[Order]) -> None: ...
    def get(self, order_id: str) -> Order | None: ...
    def get_by_client_order_id(self, account_id: str, client_order_id: str) -> Order | None: ...
    def list(self, query: OrderQuery) -> Page[Order]: ...
    def list_working(self) -> builtins.list[Order]:
        """Every order in pending, open or partially_filled, across accounts (for recovery)."""
        ...

    def client_order_index(self) -> builtins.list[tuple[str, str, str]]:
        """(account_id, client_order_id, order_id) of every stored order, so the OMS can refuse
        duplicates in memory without a database round trip per submit."""
        ...


class FillRepository(Protocol):
    def add_many(self, fills: Sequence[Fill]) -> None: ...
    def list(self, query: FillQuery) -> Page[Fill]: ...
    def list_all(self) -> builtins.list[Fill]:
        """Every fill, oldest first (for audits and property checks)."""
        ...


class PositionRepository(Protocol):
    def upsert_many(self, positions: Sequence[Position]) -> None: ...
    def list_all(self) -> list[Position]: ...


class BalanceRepository(Protocol):
    def upsert_many(self, balances: Sequence[Balance]) -> None: ...
    def list_all(self) -> list[Balance]: ...


class OutboxRepository(Protocol):
    def add_many(self, records: Sequence[OutboxRecord]) -> None: ...
    def list_unpublished(self, limit: int) -> list[OutboxRecord]: ...
    def mark_published(self, ids: Sequence[str]) -> None: ...


class AuditRepository(Protocol):
    def add_many(self, entries: Sequence[AuditEntry]) -> None: ...
    def list(self, cursor: str | None, limit: int, action: str | None = None) -> Page[AuditEntry]: ...


class ApiKeyRepository(Protocol):
    def add(self, record: ApiKeyRecord) -> None: ...
    def get_by_hash(self, key_hash: str) -> ApiKeyRecord | None: ...
    def get(self, key_id: str) -> ApiKeyRecord | None: ...
    def list_all(self) -> list[ApiKeyRecord]: ...
    def revoke(self, key_id: str, ts: int) -> bool: ...


class IdempotencyRepository(Protocol):
    def get(self, account_id: str, key: str) -> IdempotencyRecord | None: ...
    def add_many(self, records: Sequence[IdempotencyRecord]) -> None: ...


class SettingsRepository(Protocol):
    """Small runtime state that must survive restarts (risk limits, trading state) as JSON strings."""

    def get(self, key: str) -> str | None: ...
    def put_many(self, values: dict[str, str]) -> None: ...


class UnitOfWork(Protocol):
    orders: OrderRepository
    fills: FillRepository
    positions: PositionRepository
    balances: BalanceRepository
    outbox: OutboxRepository
    audit: AuditRepository
    api_keys: ApiKeyRepository
    idempotency: IdempotencyRepository
    settings: SettingsRepository

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Rolls back whatever was not committed."""
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def write(self, changes: ChangeSet) -> None:
        """Write a whole change set (the caller commits). Adapters may batch it: the PostgreSQL one
        sends every statement in one pipelined round trip, which is what bounds group commit."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


def apply_change_set(uow: UnitOfWork, changes: ChangeSet) -> None:
    """Write a change set through a unit of work (the caller commits)."""
    if changes.orders:
        uow.orders.upsert_many(list(changes.orders.values()))
    if changes.fills:
        uow.fills.add_many(changes.fills)
    if changes.positions:
        uow.positions.upsert_many(list(changes.positions.values()))
    if changes.balances:
        uow.balances.upsert_many(list(changes.balances.values()))
    if changes.outbox:
        uow.outbox.add_many(changes.outbox)
    if changes.audit:
        uow.audit.add_many(changes.audit)
    if changes.idempotency:
        uow.idempotency.add_many(changes.idempotency)
    if changes.settings:
        uow.settings.put_many(changes.settings)
