"""In-memory persistence: the committed state and the changes a unit of work stages."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from tradeforge.adapters.memory.uow import InMemoryUnitOfWork

from tradeforge.domain.balances import Balance
from tradeforge.domain.fills import Fill
from tradeforge.domain.orders import Order
from tradeforge.domain.positions import Position
from tradeforge.ports.persistence import (
    ApiKeyRecord,
    AuditEntry,
    IdempotencyRecord,
    OutboxRecord,
)

Key = tuple[str, str]
V = TypeVar("V")


class InMemoryStore:
    """Committed state. Calling the store returns a new unit of work on it (it is a UnitOfWorkFactory).

    Published outbox records are dropped rather than kept, so long backtests do not accumulate them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.orders: dict[str, Order] = {}
        self.order_ids: dict[str, list[str]] = {}  # per account, sorted ascending
        self.order_by_client_id: dict[Key, str] = {}
        self.fills: dict[str, Fill] = {}
        self.fill_ids: dict[str, list[str]] = {}  # per account, sorted ascending
        self.positions: dict[Key, Position] = {}
        self.balances: dict[Key, Balance] = {}
        self.outbox: dict[str, OutboxRecord] = {}  # unpublished only
        self.audit: dict[str, AuditEntry] = {}
        self.audit_ids: list[str] = []  # sorted ascending
        self.api_keys: dict[str, ApiKeyRecord] = {}
        self.api_key_by_hash: dict[str, str] = {}
        self.idempotency: dict[Key, IdempotencyRecord] = {}
        self.settings: dict[str, str] = {}

    def __call__(self) -> InMemoryUnitOfWork:
        from tradeforge.adapters.memory.uow import InMemoryUnitOfWork  # the unit of work needs the store

        return InMemoryUnitOfWork(self)


@dataclass(slots=True)
class StagedChanges:
    """What one unit of work staged; visible to its own reads, applied to the store on commit."""

    orders: dict[str, Order] = field(default_factory=dict)
    order_by_client_id: dict[Key, str] = field(default_factory=dict)
    fills: dict[str, Fill] = field(default_factory=dict)
    positions: dict[Key, Position] = field(default_factory=dict)
    balances: dict[Key, Balance] = field(default_factory=dict)
    outbox: dict[str, OutboxRecord] = field(default_factory=dict)
    published: set[str] = field(default_factory=set)
    audit: dict[str, AuditEntry] = field(default_factory=dict)
    api_keys: dict[str, ApiKeyRecord] = field(default_factory=dict)
    idempotency: dict[Key, IdempotencyRecord] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)

    def clear(self) -> None:
        # Three times per unit of work, mostly on empty collections: only the non-empty ones.
        for staged in (
            self.orders,
            self.order_by_client_id,
            self.fills,
            self.positions,
            self.balances,
            self.outbox,
            self.published,
            self.audit,
            self.api_keys,
            self.idempotency,
            self.settings,
        ):
            if staged:
                staged.clear()
