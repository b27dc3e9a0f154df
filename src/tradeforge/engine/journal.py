"""Journal: commits change sets (state plus outbox events) durably, then publishes the events.

Two ways to commit, one contract. `SyncJournal` commits on the caller's thread (backtests, CLI,
in-process benchmarks), optionally grouping several units per transaction. `ThreadedJournal` hands
change sets to a committer thread that groups everything queued into one transaction (group commit),
so a busy service pays one fsync for many orders while each caller still waits for its own commit
before it is acknowledged."""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Protocol

from tradeforge.bus.message_bus import MessageBus
from tradeforge.ports.persistence import ChangeSet, UnitOfWorkFactory

logger = logging.getLogger(__name__)

Publication = tuple[str, object]  # (topic, message) published on the bus after commit
Publisher = Callable[[Sequence[Publication]], None]
FailureHandler = Callable[[BaseException], None]


class _Entry:
    # A plain class: compiled, its __init__ is native code (ADR 7); one per recorded unit.
    __slots__ = ("changes", "flush_marker", "future", "publications")

    def __init__(
        self, changes: ChangeSet, publications: list[Publication], flush_marker: bool = False
    ) -> None:
        self.changes = changes
        self.publications = publications
        self.future: Future[None] = Future()
        self.flush_marker = flush_marker


class Journal(Protocol):
    # True when another thread reads the change sets, so the recorder must hand over copies of live
    # objects rather than the objects themselves.
    needs_snapshots: bool
    # False when nothing is stored (backtests): the recorder then skips change sets and the outbox.
    persists: bool

    def record(self, changes: ChangeSet, publications: list[Publication]) -> Future[None]:
        """Queue a change set; the future completes once it is durable and its events published."""
        ...

    def flush(self) -> None:
        """Commit everything recorded so far before returning."""
        ...

    def close(self) -> None: ...


class SyncJournal:
    """Commits on the calling thread, every `group` records (1 = every unit is its own transaction).

    Live objects need no copies here: nothing else reads them, and when units are grouped the
    newest state of an object is exactly the state after the batch's last unit."""

    needs_snapshots = False
    persists = True

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        publish: Publisher,
        group: int = 1,
        on_failure: FailureHandler | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._publish = publish
        self._group = max(1, group)
        self._on_failure = on_failure
        self._pending: list[_Entry] = []
        self._done: Future[None] = Future()
        self._done.set_result(None)

    def record(self, changes: ChangeSet, publications: list[Publication]) -> Future[None]:
        if self._group == 1 and not self._pending:
            # Durable before this returns, so nobody waits on it: no Future (and lock) of its own.
            try:
                _write(self._uow_factory, changes)
            except Exception as error:
                if self._on_failure is not None:
                    self._on_failure(error)
                raise
            self._publish(publications)
            return self._done
        entry = _Entry(changes, publications)
        self._pending.append(entry)
        if len(self._pending) >= self._group:
            self.flush()
        return entry.future

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            _commit(self._uow_factory, batch)
        except Exception as error:
            for entry in batch:
                entry.future.set_exception(error)
            if self._on_failure is not None:
                self._on_failure(error)
            raise
        publications = [p for entry in batch for p in entry.publications]
        self._publish(publications)
        for entry in batch:
            entry.future.set_result(None)

    def close(self) -> None:
        self.flush()


class NullJournal:
    """Stores nothing and publishes each unit's events as the unit closes (backtests): results come
    from the engines' own orders and fills, so a year of bars pays nothing for durability."""

    needs_snapshots = False
    persists = False

    def __init__(self, publish: Publisher) -> None:
        self._publish = publish
        self._done: Future[None] = Future()
        self._done.set_result(None)

    def record(self, changes: ChangeSet, publications: list[Publication]) -> Future[None]:
        if publications:
            self._publish(publications)
        return self._done

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


class ThreadedJournal:
    """Group commit on a dedicated thread; results are handed back through `deliver`, which must run
    the callback on the engine's thread (e.g. loop.call_soon_threadsafe), so publication to bus
    subscribers stays single-threaded."""

    needs_snapshots = True
    persists = True

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        publish: Publisher,
        deliver: Callable[[Callable[[], None]], None],
        max_batch: int = 2000,
        on_failure: FailureHandler | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._publish = publish
        self._deliver = deliver
        self._max_batch = max_batch
        self._on_failure = on_failure
        self._queue: queue.Queue[_Entry | None] = queue.Queue()
        self._committer = threading.Thread(target=self._run, name="tradeforge-journal", daemon=True)
        self._committer.start()

    def record(self, changes: ChangeSet, publications: list[Publication]) -> Future[None]:
        entry = _Entry(changes, publications)
        self._queue.put(entry)
        return entry.future

    def flush(self) -> None:
        """Wait until everything recorded so far is committed. Safe on the engine's own thread:
        the marker is completed by the committer thread itself, not through `deliver`."""
        marker = _Entry(ChangeSet(), [], flush_marker=True)
        self._queue.put(marker)
        marker.future.result(timeout=60)

    def close(self) -> None:
        self._queue.put(None)
        self._committer.join(timeout=60)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                _commit(self._uow_factory, batch)
            except Exception as error:
                logger.exception("journal commit failed for %d units", len(batch))
                for entry in batch:
                    entry.future.set_exception(error)
                if self._on_failure is not None:
                    self._deliver(functools.partial(self._on_failure, error))
                continue
            for entry in batch:
                if entry.flush_marker:
                    entry.future.set_result(None)
            self._deliver(functools.partial(self._after_commit, [e for e in batch if not e.flush_marker]))

    def _after_commit(self, batch: list[_Entry]) -> None:
        self._publish([p for entry in batch for p in entry.publications])
        for entry in batch:
            entry.future.set_result(None)


class CausalPublisher:
    """Delivers committed units' events in commit order, breadth first: a reaction committed while a
    batch is being delivered (a strategy's order on a fill) is delivered after the rest of that batch,
    never in the middle of it, so every listener sees causes before effects — the order the threaded
    journal gives naturally, here for the synchronous ones too."""

    def __init__(self, bus: MessageBus) -> None:
        self._bus = bus
        self._pending: deque[Publication] = deque()
        self._delivering = False

    def __call__(self, publications: Sequence[Publication]) -> None:
        self._pending.extend(publications)
        if self._delivering:
            return
        self._delivering = True
        try:
            pending, publish = self._pending, self._bus.publish
            while pending:
                topic, message = pending.popleft()
                publish(topic, message)
        finally:
            self._delivering = False
            self._pending.clear()


def _commit(uow_factory: UnitOfWorkFactory, batch: list[_Entry]) -> None:
    if len(batch) == 1:
        changes = batch[0].changes
    else:
        changes = ChangeSet()
        for entry in batch:
            changes.merge(entry.changes)
    _write(uow_factory, changes)


def _write(uow_factory: UnitOfWorkFactory, changes: ChangeSet) -> None:
    if not changes:
        return
    with uow_factory() as uow:
        uow.write(changes)
        uow.commit()
