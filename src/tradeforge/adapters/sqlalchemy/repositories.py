"""SQLAlchemy Core repositories of the persistence port, working on one Connection (one transaction).

Batches go through executemany and dialect upserts so a change set costs a handful of statements
whatever its size; nothing here commits (the unit of work does)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from tradeforge.adapters.sqlalchemy import tables as t
from tradeforge.adapters.sqlalchemy.sql_base import (
    Row,
    SqlRepository,
    check_limit,
    chunks,
    insert_ignore_statement,
    insert_statement,
    make_page,
    upsert_statement,
)
from tradeforge.domain.balances import Balance
from tradeforge.domain.fills import Fill, Liquidity, OrderSide
from tradeforge.domain.orders import WORKING_STATUSES, Order, OrderStatus, OrderType, TimeInForce
from tradeforge.domain.positions import Position
from tradeforge.ports.persistence import (
    ApiKeyRecord,
    AuditEntry,
    FillQuery,
    IdempotencyRecord,
    OrderQuery,
    OutboxRecord,
    Page,
)

# --- orders -----------------------------------------------------------------------------------------


def order_to_row(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "client_order_id": order.client_order_id,
        "account_id": order.account_id,
        "venue": order.venue,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "quantity": order.quantity,
        "price": order.price,
        "stop_price": order.stop_price,
        "time_in_force": order.time_in_force.value,
        "expire_at": order.expire_at,
        "strategy_id": order.strategy_id,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "status": order.status.value,
        "filled_quantity": order.filled_quantity,
        "filled_notional": order.filled_notional,
        "fees": order.fees,
        "venue_order_id": order.venue_order_id,
        "reject_reason": order.reject_reason,
        "triggered": order.triggered,
        "version": order.version,
    }


def order_from_row(row: Row) -> Order:
    return Order(
        id=row.id,
        client_order_id=row.client_order_id,
        account_id=row.account_id,
        venue=row.venue,
        symbol=row.symbol,
        side=OrderSide(row.side),
        type=OrderType(row.type),
        quantity=row.quantity,
        price=row.price,
        stop_price=row.stop_price,
        time_in_force=TimeInForce(row.time_in_force),
        expire_at=row.expire_at,
        strategy_id=row.strategy_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        _status=OrderStatus(row.status),
        filled_quantity=row.filled_quantity,
        filled_notional=row.filled_notional,
        fees=row.fees,
        venue_order_id=row.venue_order_id,
        reject_reason=row.reject_reason,
        triggered=bool(row.triggered),
        version=row.version,
    )


def _order_id(order: Order) -> str:
    return order.id


class SqlOrderRepository(SqlRepository):
    def upsert_many(self, orders: Sequence[Order]) -> None:
        if orders:
            rows = [order_to_row(order) for order in orders]
            self._execute_batch(upsert_statement(self._dialect, t.orders), rows, ("client_order_id", "id"))

    def get(self, order_id: str) -> Order | None:
        row = self._connection.execute(sa.select(t.orders).where(t.orders.c.id == order_id)).first()
        return None if row is None else order_from_row(row)

    def get_by_client_order_id(self, account_id: str, client_order_id: str) -> Order | None:
        stmt = sa.select(t.orders).where(
            t.orders.c.account_id == account_id, t.orders.c.client_order_id == client_order_id
        )
        row = self._connection.execute(stmt).first()
        return None if row is None else order_from_row(row)

    def list(self, query: OrderQuery) -> Page[Order]:
        check_limit(query.limit)
        c = t.orders.c
        stmt = sa.select(t.orders).where(c.account_id == query.account_id)
        if query.statuses is not None:
            stmt = stmt.where(c.status.in_(sorted(status.value for status in query.statuses)))
        if query.symbol is not None:
            stmt = stmt.where(c.symbol == query.symbol)
        if query.strategy_id is not None:
            stmt = stmt.where(c.strategy_id == query.strategy_id)
        if query.cursor is not None:
            stmt = stmt.where(c.id < query.cursor)
        rows = self._connection.execute(stmt.order_by(c.id.desc()).limit(query.limit + 1)).all()
        return make_page(rows, query.limit, order_from_row, _order_id)

    def list_working(self) -> builtins.list[Order]:
        working = sorted(status.value for status in WORKING_STATUSES)
        stmt = sa.select(t.orders).where(t.orders.c.status.in_(working)).order_by(t.orders.c.id)
        return [order_from_row(row) for row in self._connection.execute(stmt)]

    def client_order_index(self) -> builtins.list[tuple[str, str, str]]:
        c = t.orders.c
        rows = self._connection.execute(sa.select(c.account_id, c.client_order_id, c.id).order_by(c.id))
        return [(row.account_id, row.client_order_id, row.id) for row in rows]


# --- fills ------------------------------------------------------------------------------------------


def fill_to_row(fill: Fill) -> dict[str, Any]:
    return {
        "fill_id": fill.fill_id,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "account_id": fill.account_id,
        "venue": fill.venue,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "fee_asset": fill.fee_asset,
        "liquidity": fill.liquidity.value,
        "ts": fill.ts,
        "strategy_id": fill.strategy_id,
    }


def fill_from_row(row: Row) -> Fill:
    return Fill(
        fill_id=row.fill_id,
        order_id=row.order_id,
        client_order_id=row.client_order_id,
        account_id=row.account_id,
        venue=row.venue,
        symbol=row.symbol,
        side=OrderSide(row.side),
        quantity=row.quantity,
        price=row.price,
        fee=row.fee,
        fee_asset=row.fee_asset,
        liquidity=Liquidity(row.liquidity),
        ts=row.ts,
        strategy_id=row.strategy_id,
    )


def _fill_id(fill: Fill) -> str:
    return fill.fill_id


class SqlFillRepository(SqlRepository):
    def add_many(self, fills: Sequence[Fill]) -> None:
        if fills:
            self._execute_batch(
                insert_statement(t.fills), [fill_to_row(fill) for fill in fills], ("fill_id",)
            )

    def list(self, query: FillQuery) -> Page[Fill]:
        check_limit(query.limit)
        c = t.fills.c
        stmt = sa.select(t.fills).where(c.account_id == query.account_id)
        if query.symbol is not None:
            stmt = stmt.where(c.symbol == query.symbol)
        if query.order_id is not None:
            stmt = stmt.where(c.order_id == query.order_id)
        if query.venue is not None:
            stmt = stmt.where(c.venue == query.venue)
        if query.since_ms is not None:
            stmt = stmt.where(c.ts >= query.since_ms)
        if query.cursor is not None:
            stmt = stmt.where(c.fill_id < query.cursor)
        rows = self._connection.execute(stmt.order_by(c.fill_id.desc()).limit(query.limit + 1)).all()
        return make_page(rows, query.limit, fill_from_row, _fill_id)

    def list_all(self) -> builtins.list[Fill]:
        stmt = sa.select(t.fills).order_by(t.fills.c.ts, t.fills.c.fill_id)
        return [fill_from_row(row) for row in self._connection.execute(stmt)]


# --- positions and balances -------------------------------------------------------------------------


class SqlPositionRepository(SqlRepository):
    def upsert_many(self, positions: Sequence[Position]) -> None:
        if positions:
            rows = [
                {
                    "account_id": p.account_id,
                    "symbol": p.symbol,
                    "quantity": p.quantity,
                    "cost_basis": p.cost_basis,
                    "realized_pnl": p.realized_pnl,
                    "fees": p.fees,
                    "updated_at": p.updated_at,
                }
                for p in positions
            ]
            self._execute_batch(upsert_statement(self._dialect, t.positions), rows)

    def list_all(self) -> list[Position]:
        stmt = sa.select(t.positions).order_by(t.positions.c.account_id, t.positions.c.symbol)
        return [Position(**row._asdict()) for row in self._connection.execute(stmt)]


class SqlBalanceRepository(SqlRepository):
    def upsert_many(self, balances: Sequence[Balance]) -> None:
        if balances:
            rows = [
                {
                    "account_id": b.account_id,
                    "asset": b.asset,
                    "total": b.total,
                    "locked": b.locked,
                    "updated_at": b.updated_at,
                }
                for b in balances
            ]
            self._execute_batch(upsert_statement(self._dialect, t.balances), rows)

    def list_all(self) -> list[Balance]:
        stmt = sa.select(t.balances).order_by(t.balances.c.account_id, t.balances.c.asset)
        return [Balance(**row._asdict()) for row in self._connection.execute(stmt)]


# --- outbox and audit -------------------------------------------------------------------------------


class SqlOutboxRepository(SqlRepository):
    """Published rows are kept (published_at set) so delivery can be audited; pruning is separate."""

    def __init__(self, connection: sa.Connection, now_ms: Callable[[], int]) -> None:
        super().__init__(connection)
        self._now_ms = now_ms

    def add_many(self, records: Sequence[OutboxRecord]) -> None:
        if records:
            rows = [
                {"id": r.id, "ts": r.ts, "topic": r.topic, "type": r.type, "payload": r.payload}
                for r in records
            ]
            self._execute_batch(insert_statement(t.outbox), rows, ("id",))

    def list_unpublished(self, limit: int) -> list[OutboxRecord]:
        check_limit(limit)
        c = t.outbox.c
        stmt = sa.select(c.id, c.ts, c.topic, c.type, c.payload).where(c.published_at.is_(None))
        rows = self._connection.execute(stmt.order_by(c.id).limit(limit))
        return [OutboxRecord(**row._asdict()) for row in rows]

    def mark_published(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        now = self._now_ms()
        c = t.outbox.c
        for chunk in chunks(list(ids)):
            stmt = (
                sa.update(t.outbox).where(c.id.in_(chunk), c.published_at.is_(None)).values(published_at=now)
            )
            self._connection.execute(stmt)


def _audit_id(entry: AuditEntry) -> str:
    return entry.id


def _audit_from_row(row: Row) -> AuditEntry:
    return AuditEntry(**row._asdict())


class SqlAuditRepository(SqlRepository):
    def add_many(self, entries: Sequence[AuditEntry]) -> None:
        if entries:
            rows = [
                {
                    "id": e.id,
                    "ts": e.ts,
                    "actor": e.actor,
                    "action": e.action,
                    "target": e.target,
                    "details": e.details,
                }
                for e in entries
            ]
            self._execute_batch(sa.insert(t.audit_log), rows, ("id",))

    def list(self, cursor: str | None, limit: int, action: str | None = None) -> Page[AuditEntry]:
        check_limit(limit)
        c = t.audit_log.c
        stmt = sa.select(t.audit_log)
        if action is not None:
            stmt = stmt.where(c.action == action)
        if cursor is not None:
            stmt = stmt.where(c.id < cursor)
        rows = self._connection.execute(stmt.order_by(c.id.desc()).limit(limit + 1)).all()
        return make_page(rows, limit, _audit_from_row, _audit_id)


# --- API keys, idempotency, settings ----------------------------------------------------------------


def _api_key_from_row(row: Row) -> ApiKeyRecord:
    return ApiKeyRecord(**row._asdict())


class SqlApiKeyRepository(SqlRepository):
    def add(self, record: ApiKeyRecord) -> None:
        r = record
        row = {
            "id": r.id,
            "name": r.name,
            "role": r.role,
            "account_id": r.account_id,
            "key_hash": r.key_hash,
            "created_at": r.created_at,
            "revoked_at": r.revoked_at,
        }
        self._execute_batch(sa.insert(t.api_keys), [row], ("key_hash", "id"))

    def get_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        row = self._connection.execute(sa.select(t.api_keys).where(t.api_keys.c.key_hash == key_hash)).first()
        return None if row is None else _api_key_from_row(row)

    def get(self, key_id: str) -> ApiKeyRecord | None:
        row = self._connection.execute(sa.select(t.api_keys).where(t.api_keys.c.id == key_id)).first()
        return None if row is None else _api_key_from_row(row)

    def list_all(self) -> list[ApiKeyRecord]:
        stmt = sa.select(t.api_keys).order_by(t.api_keys.c.created_at, t.api_keys.c.id)
        return [_api_key_from_row(row) for row in self._connection.execute(stmt)]

    def revoke(self, key_id: str, ts: int) -> bool:
        """True when an active key was revoked; an unknown or already revoked key keeps its state."""
        c = t.api_keys.c
        stmt = sa.update(t.api_keys).where(c.id == key_id, c.revoked_at.is_(None)).values(revoked_at=ts)
        return self._connection.execute(stmt).rowcount > 0


class SqlIdempotencyRepository(SqlRepository):
    def get(self, account_id: str, key: str) -> IdempotencyRecord | None:
        c = t.idempotency_keys.c
        stmt = sa.select(t.idempotency_keys).where(c.account_id == account_id, c.key == key)
        row = self._connection.execute(stmt).first()
        return None if row is None else IdempotencyRecord(**row._asdict())

    def add_many(self, records: Sequence[IdempotencyRecord]) -> None:
        """Insert-or-ignore: the first response stored for a key is the one replayed forever."""
        if records:
            rows = [
                {
                    "account_id": r.account_id,
                    "key": r.key,
                    "fingerprint": r.fingerprint,
                    "status_code": r.status_code,
                    "body": r.body,
                    "created_at": r.created_at,
                }
                for r in records
            ]
            self._execute_batch(insert_ignore_statement(self._dialect, t.idempotency_keys), rows)


class SqlSettingsRepository(SqlRepository):
    def get(self, key: str) -> str | None:
        stmt = sa.select(t.settings.c.value).where(t.settings.c.key == key)
        value = self._connection.execute(stmt).scalar()
        return None if value is None else str(value)

    def put_many(self, values: dict[str, str]) -> None:
        if values:
            rows = [{"key": key, "value": value} for key, value in values.items()]
            self._connection.execute(upsert_statement(self._dialect, t.settings), rows)
