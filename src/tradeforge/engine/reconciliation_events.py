"""Reconciliation events: corrections, flagged discrepancies, per-venue trading state, runs (topics:
bus.topics.reconciliation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tradeforge.domain.events import Event


class CorrectionKind(StrEnum):
    """What the reconciler changed in the local books to match the venue."""

    FILL = "fill"  # a venue trade of ours booked (OrderFilled through the transition table)
    ORDER_ACCEPTED = "order_accepted"  # a pending order found on the venue
    ORDER_STATUS = "order_status"  # the venue filled, cancelled, expired or rejected it
    ORDER_AMENDED = "order_amended"  # the venue's quantity/price after an amend we never saw land
    ORDER_ADOPTED = "order_adopted"  # a venue order with our client-id prefix, unknown locally
    LOCAL_ONLY = "local_only"  # a local working order the venue provably does not have
    BALANCE = "balance"  # the venue's total of an asset differs from the books


class DiscrepancyKind(StrEnum):
    """What the reconciler found and could not (or may not) correct by itself."""

    ORDER_MISMATCH = "order_mismatch"  # still differs after a correction attempt (retried next run)
    UNRESOLVED_ORDER = "unresolved_order"  # the adapter does not know yet whether a create landed
    MISSING_FILL = "missing_fill"  # a venue trade of ours not booked yet (retried next run)
    FOREIGN_ORDER = "foreign_order"  # an open venue order not placed by us (informational)
    FOREIGN_FILL = "foreign_fill"  # a venue trade of an order not placed by us (informational)
    FILL_MISMATCH = "fill_mismatch"  # a booked fill differs from the venue's trade
    PHANTOM_FILL = "phantom_fill"  # a booked fill the venue's trade list provably lacks
    FINISHED_ORDER_ALIVE = "finished_order_alive"  # venue order open under a finished order's id
    FINISHED_ORDER_FILL = "finished_order_fill"  # a venue trade of an order the books finished
    POSITION = "position"  # the position differs from what its fills add up to


class Severity(StrEnum):
    """INFO leaves trading alone; RETRY keeps the venue REDUCING until a later run clears it;
    HALT stops trading on the venue until an operator acknowledges it (or it disappears)."""

    INFO = "info"
    RETRY = "retry"
    HALT = "halt"


SEVERITY: dict[DiscrepancyKind, Severity] = {
    DiscrepancyKind.ORDER_MISMATCH: Severity.RETRY,
    DiscrepancyKind.UNRESOLVED_ORDER: Severity.RETRY,
    DiscrepancyKind.MISSING_FILL: Severity.RETRY,
    DiscrepancyKind.FOREIGN_ORDER: Severity.INFO,
    DiscrepancyKind.FOREIGN_FILL: Severity.INFO,
    DiscrepancyKind.FILL_MISMATCH: Severity.HALT,
    DiscrepancyKind.PHANTOM_FILL: Severity.HALT,
    DiscrepancyKind.FINISHED_ORDER_ALIVE: Severity.HALT,
    DiscrepancyKind.FINISHED_ORDER_FILL: Severity.HALT,
    DiscrepancyKind.POSITION: Severity.HALT,
}


# No slots=True: a slotted subclass would shadow the compiled base's fields (domain/events.py).
@dataclass(frozen=True)
class ReconciliationCorrected(Event):
    """The books were changed to match the venue. before/after: the changed fields (JSON-ready)."""

    venue: str
    kind: str
    target: str  # order id, fill id or asset
    reason: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


# No slots=True: a slotted subclass would shadow the compiled base's fields (domain/events.py).
@dataclass(frozen=True)
class ReconciliationFlagged(Event):
    """A discrepancy the reconciler did not correct (yet); severity decides the venue's gate."""

    venue: str
    kind: str
    target: str
    severity: str
    detail: str


# No slots=True: a slotted subclass would shadow the compiled base's fields (domain/events.py).
@dataclass(frozen=True)
class VenueTradingStateChanged(Event):
    """Trading on one venue: active, reducing (only orders that shrink a position) or halted."""

    venue: str
    state: str
    reason: str
    actor: str


# No slots=True: a slotted subclass would shadow the compiled base's fields (domain/events.py).
@dataclass(frozen=True)
class ReconciliationCompleted(Event):
    """One reconciliation run: what started it, how many corrections and open discrepancies it left."""

    venue: str
    trigger: str
    corrections: int
    discrepancies: int
    failed: str | None
    state: str
