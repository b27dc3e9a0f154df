"""In-memory repositories of the persistence port: committed state plus their unit's staged changes."""

from __future__ import annotations

import builtins
import heapq
import threading
from bisect import bisect_left, insort
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from tradeforge.adapters.memory.store import InMemoryStore, Key, StagedChanges
from tradeforge.domain.balances import Balance
from tradeforge.domain.copies import snapshot
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.fills import Fill
from tradeforge.domain.orders import Order
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

V = TypeVar("V")


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValidationError("limit", "must be at least 1")


def descending(committed: list[str], staged: Sequence[str], cursor: str | None) -> Iterator[str]:
    """Ids below cursor, newest (largest) first, from a sorted committed list and unsorted staged ids."""
    end = len(committed) if cursor is None else bisect_left(committed, cursor)
    older = (committed[i] for i in range(end - 1, -1, -1))
    newer = sorted((i for i in staged if cursor is None or i < cursor), reverse=True)
    previous = None
    for item in heapq.merge(older, newer, reverse=True):
        if item != previous:
            yield item
            previous = item


def duplicate(field_name: str, value: str) -> ValidationError:
    return ValidationError(field_name, f"a record with {field_name} {value!r} already exists")


def _add_unique(
    lock: threading.Lock,
    items: list[tuple[str, V]],
    staged: dict[str, V],
    committed: Mapping[str, V],
    name: str,
) -> None:
    """Stage items whose key is new, or none of them (ValidationError naming the key field)."""
    pending: dict[str, V] = {}
    with lock:
        for key, item in items:
            if key in pending or key in staged or key in committed:
                raise duplicate(name, key)
            pending[key] = item
    staged.update(pending)


def _client_key(order: Order) -> Key:
    return (order.account_id, order.client_order_id)


class _Repository:
    def __init__(self, store: InMemoryStore, changes: StagedChanges) -> None:
        self._store = store
        self._changes = changes


class InMemoryOrderRepository(_Repository):
    def _current(self, order_id: str, pending: dict[str, Order] | None = None) -> Order | None:
        if pending is not None and order_id in pending:
            return pending[order_id]
        staged = self._changes.orders.get(order_id)
        return staged if staged is not None else self._store.orders.get(order_id)

    def _owner(self, key: Key, pending: dict[str, Order] | None = None) -> str | None:
        """The id of the order holding (account, client_order_id) now; stale index entries are skipped."""
        for order_id in (self._changes.order_by_client_id.get(key), self._store.order_by_client_id.get(key)):
            if order_id is not None:
                order = self._current(order_id, pending)
                if order is not None and _client_key(order) == key:
                    return order_id
        return None

    def upsert_many(self, orders: Sequence[Order]) -> None:
        pending: dict[str, Order] = {}
        pending_owner: dict[Key, str] = {}
        with self._store.lock:
            for order in orders:
                key = _client_key(order)
                owner = pending_owner.get(key)
                if owner is not None:
                    current = pending[owner]
                    owner = owner if _client_key(current) == key else None
                if owner is None:
                    owner = self._owner(key, pending)
                if owner is not None and owner != order.id:
                    message = f"{order.client_order_id!r} is already used by order {owner} of this account"
                    raise ValidationError("client_order_id", message)
                pending[order.id] = snapshot(order)
                pending_owner[key] = order.id
        self._changes.orders.update(pending)
        self._changes.order_by_client_id.update(pending_owner)

    def get(self, order_id: str) -> Order | None:
        with self._store.lock:
            order = self._current(order_id)
        return None if order is None else snapshot(order)

    def get_by_client_order_id(self, account_id: str, client_order_id: str) -> Order | None:
        with self._store.lock:
            owner = self._owner((account_id, client_order_id))
            order = None if owner is None else self._current(owner)
        return None if order is None else snapshot(order)

    def list(self, query: OrderQuery) -> Page[Order]:
        check_limit(query.limit)
        staged = [o.id for o in self._changes.orders.values() if o.account_id == query.account_id]
        found: builtins.list[Order] = []
        with self._store.lock:
            committed = self._store.order_ids.get(query.account_id, [])
            for order_id in descending(committed, staged, query.cursor):
                order = self._current(order_id)
                if order is None or order.account_id != query.account_id:
                    continue
                if query.statuses is not None and order.status not in query.statuses:
                    continue
                if query.symbol is not None and order.symbol != query.symbol:
                    continue
                if query.strategy_id is not None and order.strategy_id != query.strategy_id:
                    continue
                found.append(order)
                if len(found) > query.limit:
                    break
        items = [snapshot(order) for order in found[: query.limit]]
        return Page(items, items[-1].id if len(found) > query.limit else None)

    def list_working(self) -> builtins.list[Order]:
        with self._store.lock:
            merged = {**self._store.orders, **self._changes.orders}
        return [snapshot(merged[i]) for i in sorted(merged) if merged[i].is_working]

    def client_order_index(self) -> builtins.list[tuple[str, str, str]]:
        with self._store.lock:
            merged = {**self._store.orders, **self._changes.orders}
        return [(merged[i].account_id, merged[i].client_order_id, i) for i in sorted(merged)]

    def commit_check(self) -> None:
        """Under the store lock: refuse a client_order_id another unit of work committed meanwhile."""
        for order in self._changes.orders.values():
            key = _client_key(order)
            owner = self._store.order_by_client_id.get(key)
            if owner is not None and owner != order.id:
                current = self._current(owner)
                if current is not None and _client_key(current) == key:
                    raise duplicate("client_order_id", order.client_order_id)

    def commit_apply(self) -> None:
        store = self._store
        for order in self._changes.orders.values():
            previous = store.orders.get(order.id)
            if previous is None or previous.account_id != order.account_id:
                if previous is not None:
                    store.order_ids[previous.account_id].remove(order.id)
                insort(store.order_ids.setdefault(order.account_id, []), order.id)
            old_key = None if previous is None else _client_key(previous)
            # Drop the index entry of a client_order_id this order no longer carries.
            if old_key is not None and store.order_by_client_id.get(old_key) == order.id:
                del store.order_by_client_id[old_key]
            store.order_by_client_id[_client_key(order)] = order.id
            store.orders[order.id] = order


class InMemoryFillRepository(_Repository):
    def add_many(self, fills: Sequence[Fill]) -> None:
        # Fills are frozen: stored as given, no copy needed (same for outbox and audit records).
        items = [(fill.fill_id, fill) for fill in fills]
        _add_unique(self._store.lock, items, self._changes.fills, self._store.fills, "fill_id")

    def list(self, query: FillQuery) -> Page[Fill]:
        check_limit(query.limit)
        staged = [f.fill_id for f in self._changes.fills.values() if f.account_id == query.account_id]
        found: builtins.list[Fill] = []
        with self._store.lock:
            committed = self._store.fill_ids.get(query.account_id, [])
            for fill_id in descending(committed, staged, query.cursor):
                fill = self._changes.fills.get(fill_id) or self._store.fills[fill_id]
                if query.symbol is not None and fill.symbol != query.symbol:
                    continue
                if query.order_id is not None and fill.order_id != query.order_id:
                    continue
                if query.venue is not None and fill.venue != query.venue:
                    continue
                if query.since_ms is not None and fill.ts < query.since_ms:
                    continue
                found.append(fill)
                if len(found) > query.limit:
                    break
        items = found[: query.limit]
        return Page(items, items[-1].fill_id if len(found) > query.limit else None)

    def list_all(self) -> builtins.list[Fill]:
        with self._store.lock:
            every = [*self._store.fills.values(), *self._changes.fills.values()]
        return sorted(every, key=lambda fill: (fill.ts, fill.fill_id))

    def commit_apply(self) -> None:
        for fill in self._changes.fills.values():
            self._store.fills[fill.fill_id] = fill
            insort(self._store.fill_ids.setdefault(fill.account_id, []), fill.fill_id)


class InMemoryPositionRepository(_Repository):
    def upsert_many(self, positions: Sequence[Position]) -> None:
        for position in positions:
            self._changes.positions[(position.account_id, position.symbol)] = snapshot(position)

    def list_all(self) -> list[Position]:
        with self._store.lock:
            merged = {**self._store.positions, **self._changes.positions}
        return [snapshot(merged[key]) for key in sorted(merged)]


class InMemoryBalanceRepository(_Repository):
    def upsert_many(self, balances: Sequence[Balance]) -> None:
        for balance in balances:
            self._changes.balances[(balance.account_id, balance.asset)] = snapshot(balance)

    def list_all(self) -> list[Balance]:
        with self._store.lock:
            merged = {**self._store.balances, **self._changes.balances}
        return [snapshot(merged[key]) for key in sorted(merged)]


class InMemoryOutboxRepository(_Repository):
    def add_many(self, records: Sequence[OutboxRecord]) -> None:
        items = [(record.id, record) for record in records]
        _add_unique(self._store.lock, items, self._changes.outbox, self._store.outbox, "id")

    def list_unpublished(self, limit: int) -> list[OutboxRecord]:
        check_limit(limit)
        published = self._changes.published
        with self._store.lock:
            committed = [i for i in self._store.outbox if i not in published]
            ids = heapq.nsmallest(limit, [*committed, *self._changes.outbox])
            return [self._changes.outbox.get(i) or self._store.outbox[i] for i in ids]

    def mark_published(self, ids: Sequence[str]) -> None:
        for record_id in ids:
            if self._changes.outbox.pop(record_id, None) is None:
                self._changes.published.add(record_id)

    def commit_apply(self) -> None:
        for record_id in self._changes.published:
            self._store.outbox.pop(record_id, None)
        self._store.outbox.update(self._changes.outbox)


class InMemoryAuditRepository(_Repository):
    def add_many(self, entries: Sequence[AuditEntry]) -> None:
        items = [(entry.id, entry) for entry in entries]
        _add_unique(self._store.lock, items, self._changes.audit, self._store.audit, "id")

    def list(self, cursor: str | None, limit: int, action: str | None = None) -> Page[AuditEntry]:
        check_limit(limit)
        found: builtins.list[AuditEntry] = []
        with self._store.lock:
            for entry_id in descending(self._store.audit_ids, [*self._changes.audit], cursor):
                entry = self._changes.audit.get(entry_id) or self._store.audit[entry_id]
                if action is None or entry.action == action:
                    found.append(entry)
                    if len(found) > limit:
                        break
        items = found[:limit]
        return Page(items, items[-1].id if len(found) > limit else None)

    def commit_apply(self) -> None:
        for entry in self._changes.audit.values():
            self._store.audit[entry.id] = entry
            insort(self._store.audit_ids, entry.id)


class InMemoryApiKeyRepository(_Repository):
    def _current(self, key_id: str) -> ApiKeyRecord | None:
        return self._changes.api_keys.get(key_id) or self._store.api_keys.get(key_id)

    def _id_by_hash(self, key_hash: str) -> str | None:
        for record in self._changes.api_keys.values():
            if record.key_hash == key_hash:
                return record.id
        return self._store.api_key_by_hash.get(key_hash)

    def add(self, record: ApiKeyRecord) -> None:
        with self._store.lock:
            if self._current(record.id) is not None:
                raise duplicate("id", record.id)
            if self._id_by_hash(record.key_hash) is not None:
                raise ValidationError("key_hash", "an API key with this hash already exists")
        self._changes.api_keys[record.id] = record

    def get_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        with self._store.lock:
            key_id = self._id_by_hash(key_hash)
            return None if key_id is None else self._current(key_id)

    def get(self, key_id: str) -> ApiKeyRecord | None:
        with self._store.lock:
            return self._current(key_id)

    def list_all(self) -> list[ApiKeyRecord]:
        with self._store.lock:
            merged = {**self._store.api_keys, **self._changes.api_keys}
        return sorted(merged.values(), key=lambda record: (record.created_at, record.id))

    def revoke(self, key_id: str, ts: int) -> bool:
        """True when an active key was revoked; an unknown or already revoked key keeps its state."""
        current = self.get(key_id)
        if current is None or current.revoked_at is not None:
            return False
        self._changes.api_keys[key_id] = replace(current, revoked_at=ts)
        return True

    def commit_check(self) -> None:
        for record in self._changes.api_keys.values():
            owner = self._store.api_key_by_hash.get(record.key_hash)
            if owner is not None and owner != record.id:
                raise ValidationError("key_hash", "an API key with this hash already exists")

    def commit_apply(self) -> None:
        for record in self._changes.api_keys.values():
            self._store.api_keys[record.id] = record
            self._store.api_key_by_hash[record.key_hash] = record.id


class InMemoryIdempotencyRepository(_Repository):
    def get(self, account_id: str, key: str) -> IdempotencyRecord | None:
        staged = self._changes.idempotency.get((account_id, key))
        if staged is not None:
            return staged
        with self._store.lock:
            return self._store.idempotency.get((account_id, key))

    def add_many(self, records: Sequence[IdempotencyRecord]) -> None:
        """Insert-or-ignore: the first response stored for a key is the one replayed forever."""
        for record in records:
            if self.get(record.account_id, record.key) is None:
                self._changes.idempotency[(record.account_id, record.key)] = record

    def commit_apply(self) -> None:
        for key, record in self._changes.idempotency.items():
            self._store.idempotency.setdefault(key, record)


class InMemorySettingsRepository(_Repository):
    def get(self, key: str) -> str | None:
        if key in self._changes.settings:
            return self._changes.settings[key]
        with self._store.lock:
            return self._store.settings.get(key)

    def put_many(self, values: dict[str, str]) -> None:
        self._changes.settings.update(values)
