"""SQLAlchemy unit of work: one connection and one transaction, with every repository bound to it."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Self

import sqlalchemy as sa

from tradeforge.adapters.sqlalchemy.repositories import (
    SqlApiKeyRepository,
    SqlAuditRepository,
    SqlBalanceRepository,
    SqlFillRepository,
    SqlIdempotencyRepository,
    SqlOrderRepository,
    SqlOutboxRepository,
    SqlPositionRepository,
    SqlSettingsRepository,
)
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


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class SqlAlchemyUnitOfWork:
    """Use as `with uow: ...; uow.commit()`. Leaving the block rolls back whatever was not committed.

    After a repository raises (e.g. a duplicate client_order_id), roll back: on PostgreSQL the
    transaction is aborted and refuses further statements. After commit() the same block may go on
    working; the next statement opens a new transaction. now_ms stamps outbox publication (the port
    passes no timestamp there)."""

    orders: OrderRepository
    fills: FillRepository
    positions: PositionRepository
    balances: BalanceRepository
    outbox: OutboxRepository
    audit: AuditRepository
    api_keys: ApiKeyRepository
    idempotency: IdempotencyRepository
    settings: SettingsRepository

    def __init__(self, engine: sa.Engine, *, now_ms: Callable[[], int] = wall_clock_ms) -> None:
        self._engine = engine
        self._now_ms = now_ms
        self._connection: sa.Connection | None = None

    def __enter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("this unit of work is already in use; take a new one from the factory")
        connection = self._engine.connect()
        try:
            connection.begin()
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        self.orders = SqlOrderRepository(connection)
        self.fills = SqlFillRepository(connection)
        self.positions = SqlPositionRepository(connection)
        self.balances = SqlBalanceRepository(connection)
        self.outbox = SqlOutboxRepository(connection, self._now_ms)
        self.audit = SqlAuditRepository(connection)
        self.api_keys = SqlApiKeyRepository(connection)
        self.idempotency = SqlIdempotencyRepository(connection)
        self.settings = SqlSettingsRepository(connection)
        return self

    def write(self, changes: ChangeSet) -> None:
        connection = self._connection
        if connection is None:
            raise RuntimeError("write() must run inside `with uow:`")
        if connection.dialect.name == "postgresql":
            driver = connection.connection.driver_connection
            # Pipeline mode: every statement of the change set goes out without waiting for the
            # previous answer, so a group commit costs one network round trip instead of one per table.
            with driver.pipeline():  # type: ignore[union-attr]
                apply_change_set(self, changes)
        else:
            apply_change_set(self, changes)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.rollback()
        finally:
            connection.close()

    @property
    def connection(self) -> sa.Connection:
        """The open connection, for adapter-level code (e.g. maintenance queries) inside the block."""
        if self._connection is None:
            raise RuntimeError("the unit of work is not open; use it in a `with` block")
        return self._connection

    def commit(self) -> None:
        self.connection.commit()

    def rollback(self) -> None:
        self.connection.rollback()


class SqlAlchemyUnitOfWorkFactory:
    """Hands out a fresh unit of work per call; the engine (and its pool) is shared."""

    def __init__(self, engine: sa.Engine, *, now_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.engine = engine
        self._now_ms = now_ms

    def __call__(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.engine, now_ms=self._now_ms)


if TYPE_CHECKING:  # static proof that the factory and its units of work implement the port

    def _conforms(engine: sa.Engine) -> UnitOfWorkFactory:
        return SqlAlchemyUnitOfWorkFactory(engine)
