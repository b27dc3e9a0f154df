"""Unit recorder: collects what one unit of processing changed and hands it to the journal.

A unit is one top-level message (an API command, a bar, a venue report). Engines mark what they
touch; when the outermost unit closes, live objects are snapshotted into a ChangeSet together with
the outbox records of the events they produced, so state and its events always commit together."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

from tradeforge.bus import codec
from tradeforge.domain.balances import Balance
from tradeforge.domain.copies import snapshot
from tradeforge.domain.events import Event
from tradeforge.domain.fills import Fill
from tradeforge.domain.identifiers import IdGenerator
from tradeforge.domain.orders import Order
from tradeforge.domain.positions import Position
from tradeforge.engine.journal import Journal, Publication
from tradeforge.ports.persistence import AuditEntry, ChangeSet, IdempotencyRecord, OutboxRecord


class _UnitScope:
    """A plain context manager (no generator): entered several times per order."""

    __slots__ = ("_recorder",)

    def __init__(self, recorder: UnitRecorder) -> None:
        self._recorder = recorder

    def __enter__(self) -> UnitHandle:
        return self._recorder._enter()

    def __exit__(self, *exc_info: object) -> None:
        self._recorder._exit()


class UnitHandle:
    """What a caller gets back from a unit: completes when the unit's changes are durable."""

    __slots__ = ("committed",)

    def __init__(self, committed: Future[None] | None = None) -> None:
        self.committed = committed


class _Unit:
    """What one unit changed. Plain classes, not dataclasses, for these two: compiled, their
    __init__ is native code (ADR 7), and one of each is made per unit."""

    __slots__ = (
        "audit",
        "balances",
        "fills",
        "handle",
        "idempotency",
        "orders",
        "outbox",
        "positions",
        "publications",
        "settings",
    )

    def __init__(self, handle: UnitHandle) -> None:
        self.handle = handle
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self.positions: dict[tuple[str, str], Position] = {}
        self.balances: dict[tuple[str, str], Balance] = {}
        self.outbox: list[OutboxRecord] = []
        self.publications: list[Publication] = []
        self.audit: list[AuditEntry] = []
        self.idempotency: list[IdempotencyRecord] = []
        self.settings: dict[str, str] = {}


class UnitRecorder:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._event_ids = IdGenerator("E")
        self._audit_ids = IdGenerator("A")
        self._depth = 0
        self._unit: _Unit | None = None
        self._scope = _UnitScope(self)  # stateless: one serves every (nested) unit

    def unit(self) -> _UnitScope:
        """Open (or join) a unit. Changes recorded inside are committed together when the outermost
        unit closes, even if an exception escapes: whatever the engines already changed in memory
        must reach the database too."""
        return self._scope

    def call_in_unit(self, function: Callable[..., object], *args: object) -> None:
        """`function(*args)` inside a unit: the hot path of a driver that opens one unit per bar."""
        with self.unit():
            function(*args)

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


class EphemeralRecorder(UnitRecorder):
    """The recorder for a journal that stores nothing (backtests): units only order the publication
    of events after the outermost unit, exactly as a storing recorder does, and keep no change set."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(journal)
        self._publications: list[Publication] = []
        self._empty = ChangeSet()
        done: Future[None] = Future()
        done.set_result(None)
        self._done = UnitHandle(done)

    def _enter(self) -> UnitHandle:
        self._depth += 1
        return self._done

    def call_in_unit(self, function: Callable[..., object], *args: object) -> None:
        self._depth += 1
        try:
            function(*args)
        finally:
            self._depth -= 1
            if self._depth == 0 and self._publications:
                publications, self._publications = self._publications, []
                self._journal.record(self._empty, publications)

    def _exit(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._publications:
            publications, self._publications = self._publications, []
            self._journal.record(self._empty, publications)

    def order(self, order: Order) -> None:
        return None

    def fill(self, fill: Fill) -> None:
        return None

    def position(self, position: Position) -> None:
        return None

    def balance(self, balance: Balance) -> None:
        return None

    def event(self, topic: str, event: Event) -> None:
        if self._depth == 0:
            raise RuntimeError("changes must be recorded inside UnitRecorder.unit()")
        self._publications.append((topic, event))

    def publish(self, topic: str, message: object) -> None:
        if self._depth == 0:
            raise RuntimeError("changes must be recorded inside UnitRecorder.unit()")
        self._publications.append((topic, message))

    def audit(self, ts: int, actor: str, action: str, target: str, details: object) -> None:
        return None

    def idempotency(self, record: IdempotencyRecord) -> None:
        return None

    def setting(self, key: str, value: str) -> None:
        return None
