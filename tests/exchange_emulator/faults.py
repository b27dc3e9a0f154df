"""Fault injection: scripted faults for one request, a seeded random mode for soaks, and counters.

A fault is chosen per request before it reaches the venue. `applied` says whether the venue processes the
request first (the order exists) and only then misbehaves, which is the ambiguous case a client must resolve
by looking the order up. Out-of-band events (fills, partial fills, cancels the client did not ask for) are
random-mode actions on a venue's open orders, or direct calls on the emulator.
"""

from __future__ import annotations

import enum
import random
from collections import Counter
from dataclasses import dataclass, field


class FaultKind(enum.StrEnum):
    SERVER_ERROR = "server_error"  # an HTTP 5xx with the venue's body for that status
    RATE_LIMIT = "rate_limit"  # 429 (or 418) with Retry-After and the venue's rate-limit body
    TIMEOUT = "timeout"  # the response is held past the client's timeout
    DROP = "drop"  # the connection closes without a response
    DELAY = "delay"  # the normal response, late (latency, not a failure)
    OOB_FILL = "oob_fill"  # an open order fills completely, out of band
    OOB_PARTIAL_FILL = "oob_partial_fill"  # an open order fills partly, out of band
    OOB_CANCEL = "oob_cancel"  # the venue cancels an open order on its own


REQUEST_FAULTS = frozenset(
    {FaultKind.SERVER_ERROR, FaultKind.RATE_LIMIT, FaultKind.TIMEOUT, FaultKind.DROP, FaultKind.DELAY}
)
OUT_OF_BAND = frozenset({FaultKind.OOB_FILL, FaultKind.OOB_PARTIAL_FILL, FaultKind.OOB_CANCEL})


@dataclass(frozen=True)
class RequestMatch:
    """Which requests a scripted fault applies to; None matches anything."""

    venue: str | None = None
    method: str | None = None
    path: str | None = None  # exact path, or a prefix when it ends with '*'
    private_only: bool = False

    def matches(self, venue: str, method: str, path: str, private: bool) -> bool:
        if self.venue is not None and self.venue != venue:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.private_only and not private:
            return False
        if self.path is None:
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path


@dataclass(frozen=True)
class Fault:
    """One request-level fault.

    status: the HTTP status for SERVER_ERROR (500, 502, 503, 504) and RATE_LIMIT (429, or 418 for a ban).
    applied: the venue applies the request before the fault (SERVER_ERROR, TIMEOUT, DROP).
    hold_s: how long TIMEOUT holds the response (set it above the client's timeout); DELAY's latency.
    retry_after_s: the Retry-After header of RATE_LIMIT.
    """

    kind: FaultKind
    status: int | None = None
    applied: bool = False
    hold_s: float = 5.0
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        if self.kind not in REQUEST_FAULTS:
            raise ValueError(f"{self.kind} is not a request fault; use the emulator's out-of-band calls")
        if self.kind is FaultKind.RATE_LIMIT and self.applied:
            raise ValueError("a rate-limited request is never applied")

    @property
    def http_status(self) -> int:
        if self.status is not None:
            return self.status
        return 429 if self.kind is FaultKind.RATE_LIMIT else 503


@dataclass
class _Scripted:
    fault: Fault
    match: RequestMatch
    remaining: int


@dataclass(frozen=True)
class RandomFaults:
    """Seeded random faults for soak tests: each request rolls once against the request-fault rates, and
    each request also rolls the out-of-band rates against one open order of its venue.

    applied_share: the share of SERVER_ERROR / TIMEOUT / DROP faults that happen after the request was
    applied. match: which requests may get request faults (default: private ones only).
    """

    seed: int
    rates: dict[FaultKind, float] = field(default_factory=dict)
    applied_share: float = 0.5
    server_statuses: tuple[int, ...] = (500, 502, 503, 504)
    hold_s: float = 2.0
    match: RequestMatch = RequestMatch(private_only=True)
    partial_fill_share: float = 0.5  # OOB_PARTIAL_FILL fills this share of the remaining quantity

    def __post_init__(self) -> None:
        if sum(p for k, p in self.rates.items() if k in REQUEST_FAULTS) > 1:
            raise ValueError("request fault rates add up to more than 1")


class FaultPlan:
    """What the emulator consults for every request, and the record of what it injected."""

    def __init__(self) -> None:
        self._scripted: list[_Scripted] = []
        self._random: RandomFaults | None = None
        self._rng = random.Random(0)
        self.counts: Counter[tuple[str, FaultKind]] = Counter()

    # ------------------------------------------------------------------ configuring
    def inject(self, fault: Fault, match: RequestMatch | None = None, times: int = 1) -> None:
        """Queue a fault for the next `times` requests that match (first queued, first used)."""
        self._scripted.append(_Scripted(fault, match or RequestMatch(), times))

    def randomize(self, config: RandomFaults | None) -> None:
        """Turn the seeded random mode on (or off with None); the generator restarts from the seed."""
        self._random = config
        self._rng = random.Random(config.seed if config else 0)

    def clear(self) -> None:
        self._scripted.clear()
        self._random = None

    @property
    def pending(self) -> int:
        return sum(item.remaining for item in self._scripted)

    # ------------------------------------------------------------------ deciding
    def request_fault(self, venue: str, method: str, path: str, private: bool) -> Fault | None:
        for item in self._scripted:
            if item.match.matches(venue, method, path, private):
                item.remaining -= 1
                if item.remaining <= 0:
                    self._scripted.remove(item)
                return item.fault
        config = self._random
        if config is None or not config.match.matches(venue, method, path, private):
            return None
        roll = self._rng.random()
        for kind in sorted(k for k in config.rates if k in REQUEST_FAULTS):
            roll -= config.rates[kind]
            if roll < 0:
                return self._random_fault(config, kind)
        return None

    def _random_fault(self, config: RandomFaults, kind: FaultKind) -> Fault:
        applied = kind in (FaultKind.SERVER_ERROR, FaultKind.TIMEOUT, FaultKind.DROP) and (
            self._rng.random() < config.applied_share
        )
        status = None
        if kind is FaultKind.SERVER_ERROR:
            status = config.server_statuses[self._rng.randrange(len(config.server_statuses))]
        hold = config.hold_s if kind is FaultKind.TIMEOUT else config.hold_s / 10
        return Fault(kind, status=status, applied=applied, hold_s=hold)

    def out_of_band(self, venue: str, open_order_ids: list[str]) -> tuple[FaultKind, str] | None:
        """The random mode's out-of-band event for this request, if any: (kind, order id)."""
        config = self._random
        if config is None or not open_order_ids:
            return None
        for kind in sorted(k for k in config.rates if k in OUT_OF_BAND):
            if self._rng.random() < config.rates[kind]:
                return kind, open_order_ids[self._rng.randrange(len(open_order_ids))]
        return None

    @property
    def partial_fill_share(self) -> float:
        return self._random.partial_fill_share if self._random else 0.5

    # ------------------------------------------------------------------ counting
    def record(self, venue: str, kind: FaultKind) -> None:
        self.counts[(venue, kind)] += 1

    def total(self, kind: FaultKind | None = None, venue: str | None = None) -> int:
        return sum(
            n
            for (v, k), n in self.counts.items()
            if (kind is None or k is kind) and (venue is None or v == venue)
        )

    def summary(self) -> dict[str, dict[str, int]]:
        """{venue: {fault kind: count}} for printing at the end of a soak."""
        out: dict[str, dict[str, int]] = {}
        for (venue, kind), n in sorted(self.counts.items()):
            out.setdefault(venue, {})[kind.value] = n
        return out
