"""Unit recorder: collects what one unit of processing changed and hands it to the journal.

A unit is one top-level message (an API command, a bar, a venue report). Engines mark what they
touch; when the outermost unit closes, live objects are snapshotted into a ChangeSet together with
the outbox records of the events they produced, so state and its events always commit together."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field, fields
from typing import TypeVar

from tradeforge.bus import codec
from tradeforge.domain.balances import Balance
from tradeforge.domain.events import Event
from tradeforge.domain.fills import Fill
from tradeforge.domain.identifiers import IdGenerator
from tradeforge.domain.orders import Order
from tradeforge.domain.positions import Position
from tradeforge.engine.journal import Journal, Publication
from tradeforge.ports.persistence import AuditEntry, ChangeSet, IdempotencyRecord, OutboxRecord

T = TypeVar("T")


_SLOTS: dict[type, tuple[str, ...]] = {}


def snapshot(obj: T) -> T:
    """A shallow copy of a slotted dataclass, several times faster than copy.copy (no reduce
    protocol); the values inside (Decimals, strings, enums) are immutable anyway."""
    kind = type(obj)
    slots = _SLOTS.get(kind)
    if slots is None:
        slots = _SLOTS[kind] = tuple(f.name for f in fields(kind))  # type: ignore[arg-type]
    clone = object.__new__(kind)
    for name in slots:
        object.__setattr__(clone, name, getattr(obj, name))
    return clone


class _UnitScope:
    """A plain context manager (no generator): entered several times per order."""

    __slots__ = ("_recorder",)

    def __init__(self, recorder: UnitRecorder) -> None:
        self._recorder = recorder

    def __enter__(self) -> UnitHandle:
        return self._recorder._enter()

    def __exit__(self, *exc_info: object) -> None:
        self._recorder._exit()


@dataclass(slots=True)
class UnitHandle:
    """What a caller gets back from a unit: completes when the unit's changes are durable."""

    committed: Future[None] | None = None


@dataclass(slots=True)
class _Unit:
    handle: UnitHandle
    orders: dict[str, Order] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    balances: dict[tuple[str, str], Balance] = field(default_factory=dict)
    outbox: list[OutboxRecord] = field(default_factory=list)
    publications: list[Publication] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    idempotency: list[IdempotencyRecord] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)


class UnitRecorder:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._event_ids = IdGenerator("E")
        self._audit_ids = IdGenerator("A")
        self._depth = 0
        self._unit: _Unit | None = None

    def unit(self) -> _UnitScope:
        """Open (or join) a unit. Changes recorded inside are committed together when the outermost
        unit closes, even if an exception escapes: whatever the engines already changed in memory
        must reach the database too."""
        return _UnitScope(self)

    def _enter(self) -> UnitHandle:
        if self._depth == 0:
            self._unit = _Unit(UnitHandle())
        self._depth += 1
        assert self._unit is not None
        return self._unit.handle

    def _exit(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            unit = self._unit
            assert unit is not None
            self._unit = None
            changes = self._change_set(unit) if self._journal.needs_snapshots else self._live_change_set(unit)
            unit.handle.committed = self._journal.record(changes, unit.publications)

    def _current(self) -> _Unit:
        if self._unit is None:
            raise RuntimeError("changes must be recorded inside UnitRecorder.unit()")
        return self._unit

    def order(self, order: Order) -> None:
        self._current().orders[order.id] = order

    def fill(self, fill: Fill) -> None:
        self._current().fills.append(fill)

    def position(self, position: Position) -> None:
        self._current().positions[(position.account_id, position.symbol)] = position

    def balance(self, balance: Balance) -> None:
        self._current().balances[(balance.account_id, balance.asset)] = balance

    def event(self, topic: str, event: Event) -> None:
        """Publish after commit, and write to the outbox in the same transaction as the state."""
        unit = self._current()
        unit.publications.append((topic, event))
        payload = codec.encode_event(event)
        unit.outbox.append(
            OutboxRecord(self._event_ids.next(), event.ts, topic, codec.event_type(event), payload)
        )

    def publish(self, topic: str, message: object) -> None:
        """Publish after commit without an outbox row: derived state (fills are inside their
        OrderFilled event already; positions and balances are stored in their own tables)."""
        self._current().publications.append((topic, message))

    def audit(self, ts: int, actor: str, action: str, target: str, details: object) -> None:
        self._current().audit.append(
            AuditEntry(self._audit_ids.next(), ts, actor, action, target, codec.dumps(details))
        )

    def idempotency(self, record: IdempotencyRecord) -> None:
        self._current().idempotency.append(record)

    def setting(self, key: str, value: str) -> None:
        self._current().settings[key] = value

    @staticmethod
    def _live_change_set(unit: _Unit) -> ChangeSet:
        return ChangeSet(
            orders=unit.orders,
            fills=unit.fills,
            positions=unit.positions,
            balances=unit.balances,
            outbox=unit.outbox,
            audit=unit.audit,
            idempotency=unit.idempotency,
            settings=unit.settings,
        )

    @staticmethod
    def _change_set(unit: _Unit) -> ChangeSet:
        return ChangeSet(
            orders={k: snapshot(v) for k, v in unit.orders.items()},
            fills=unit.fills,
            positions={k: snapshot(v) for k, v in unit.positions.items()},
            balances={k: snapshot(v) for k, v in unit.balances.items()},
            outbox=unit.outbox,
            audit=unit.audit,
            idempotency=unit.idempotency,
            settings=unit.settings,
        )
