"""Best execution: an order without a venue goes where its size is expected to fill best after fees.

The router is pure engine logic: it reads each routable venue's health and latest order book (kept
warm by the venue's own refresher, never fetched here: the OMS runs on the event loop and must not
wait for the network) and walks the book for the order's quantity. Venues that cannot trade now
(circuit open or half-open, not connected) are skipped, which is the failover. The decision, with
every candidate and its expected price, goes into the order's audit entry (`order.route`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from tradeforge.domain.commands import SubmitOrder
from tradeforge.domain.errors import UnknownInstrument, ValidationError
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import OrderType
from tradeforge.domain.values import ZERO, decimal_str
from tradeforge.engine.instruments import InstrumentRegistry

AUTO_VENUE = "auto"
ROUTE_AUDIT_ACTION = "order.route"
_PRICED_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})

Level = tuple[Decimal, Decimal]  # (price, quantity)


class BookView(Protocol):
    """An order book snapshot: levels best first, fetched at `fetched_ms` (the local clock)."""

    @property
    def bids(self) -> Sequence[Level]: ...

    @property
    def asks(self) -> Sequence[Level]: ...

    @property
    def fetched_ms(self) -> int: ...


class RoutableVenue(Protocol):
    """What the router needs from a venue it may choose."""

    @property
    def name(self) -> str: ...

    def unavailable(self) -> str | None:
        """None when the venue takes orders now, else why not (e.g. "circuit open")."""
        ...

    def refusal(self, command: SubmitOrder) -> str | None:
        """Why this venue can never take this kind of order (type, time in force), or None."""
        ...

    def order_book(self, symbol: str) -> BookView | None:
        """The latest book if it is fresh enough to route on, else None."""
        ...

    def watch(self, symbol: str) -> None:
        """Keep this symbol's book warm from now on."""
        ...


@dataclass(frozen=True, slots=True)
class RouteCandidate:
    """One venue's assessment. status: priced, no_book, unavailable or unsupported.

    expected_price: the average price per unit the order is expected to get, fees included (a buy
    pays price x (1 + fee), a sell receives price x (1 - fee)); lower is better for a buy, higher
    for a sell. fillable: how much of the quantity the book covers within the order's limit."""

    venue: str
    status: str
    detail: str = ""
    expected_price: Decimal | None = None
    average_price: Decimal | None = None
    fillable: Decimal | None = None
    book_age_ms: int | None = None

    @property
    def full(self) -> bool:
        return self.status == "priced" and self.detail == ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "status": self.status,
            "detail": self.detail,
            "expected_price": _shown(self.expected_price),
            "average_price": _shown(self.average_price),
            "fillable": _shown(self.fillable),
            "book_age_ms": self.book_age_ms,
        }


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where the order goes and why. `rejection`: no venue can take it now; the OMS stores the
    order as rejected with this reason (on `venue`, the first venue that would otherwise take it)."""

    venue: str
    reason: str
    candidates: tuple[RouteCandidate, ...] = ()
    rejection: str | None = None

    def apply(self, command: SubmitOrder) -> SubmitOrder:
        """The command with its venue chosen. Built field by field (a third of dataclasses.replace's
        time, on the order path); a test checks that every other field is kept."""
        c = command
        return SubmitOrder(
            c.account_id, c.client_order_id, c.symbol, c.side, c.type, c.quantity, c.price,
            c.stop_price, c.time_in_force, c.expire_at, self.venue, c.strategy_id,
        )  # fmt: skip

    @property
    def recorded(self) -> bool:
        """Worth an audit entry: there was a choice (a single-venue setup routes trivially)."""
        return bool(self.candidates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "reason": self.reason,
            "rejection": self.rejection,
            "candidates": [c.to_dict() for c in self.candidates],
        }


class OrderRouter:
    """Chooses a venue for orders submitted with venue "auto".

    `venues` are the routable venues in preference order (ties and book-less choices follow it).
    Without any, every order goes to `fallback` (the paper venue): the paper-only service routes
    trivially. The paper venue is never a candidate next to real venues: a simulated fill is not
    a better price. `accounts` (venue -> the account it books into) keeps an order among the venues
    of its own account; an account no live venue books into trades on `fallback`. `admits(venue,
    command)` says why a venue's trading state would refuse the order (reconciliation), or None."""

    def __init__(
        self,
        instruments: InstrumentRegistry,
        venues: Sequence[RoutableVenue] = (),
        *,
        fallback: str = "paper",
        now_ms: Callable[[], int] | None = None,
        accounts: Mapping[str, str] | None = None,
        admits: Callable[[str, SubmitOrder], str | None] | None = None,
    ) -> None:
        self._admits = admits
        self._instruments = instruments
        self._venues = tuple(venues)
        self._accounts = dict(accounts or {})
        self._by_account: dict[str, tuple[RoutableVenue, ...]] = {}
        for venue in self._venues:
            account = self._accounts.get(venue.name)
            if account is not None:
                self._by_account[account] = (*self._by_account.get(account, ()), venue)
        self._now_ms = now_ms
        self._trivial = RouteDecision(fallback, "the only venue")
        self.fallback = fallback

    @property
    def venues(self) -> tuple[RoutableVenue, ...]:
        return self._venues

    def route(self, command: SubmitOrder) -> RouteDecision:
        venues = self._venues
        if self._by_account:
            venues = self._by_account.get(command.account_id, ())
        if not venues:
            return self._trivial
        candidates = tuple(self._assess(venue, command) for venue in venues)
        return choose(command, candidates)

    def _assess(self, venue: RoutableVenue, command: SubmitOrder) -> RouteCandidate:
        name = venue.name
        try:
            instrument = self._instruments.get(name, command.symbol)
        except (UnknownInstrument, ValidationError):
            return RouteCandidate(name, "unsupported", f"no instrument {command.symbol}")
        problem = venue.refusal(command) or _grid_problem(instrument, command)
        if problem is not None:
            return RouteCandidate(name, "unsupported", problem)
        down = venue.unavailable()
        if down is None and self._admits is not None:
            down = self._admits(name, command)
        if down is not None:
            return RouteCandidate(name, "unavailable", down)
        venue.watch(instrument.symbol)
        book = venue.order_book(instrument.symbol)
        if book is None:
            return RouteCandidate(name, "no_book", "no fresh order book")
        age = None if self._now_ms is None else max(0, self._now_ms() - book.fetched_ms)
        return price_candidate(name, instrument, command, book, age)


def price_candidate(
    venue: str, instrument: Instrument, command: SubmitOrder, book: BookView, age_ms: int | None = None
) -> RouteCandidate:
    """Walk the book for the command's quantity: the taker part at the levels it crosses (within
    its limit price), a limit order's remainder resting at its limit (maker fee)."""
    buying = command.side is OrderSide.BUY
    limit = command.price if command.type in _PRICED_TYPES else None
    filled, notional = walk(book.asks if buying else book.bids, command.quantity, limit, buying)
    fee_paid = notional * instrument.taker_fee
    rest = command.quantity - filled
    detail = ""
    if rest > ZERO and limit is not None:
        fee_paid += rest * limit * instrument.maker_fee
        notional += rest * limit
        filled_total = command.quantity
        fillable = filled
    else:
        filled_total = filled
        fillable = filled
        if rest > ZERO:
            detail = f"the book covers {decimal_str(filled)} of {decimal_str(command.quantity)}"
    if filled_total == ZERO:
        return RouteCandidate(venue, "no_book", "the book side is empty", book_age_ms=age_ms)
    average = notional / filled_total
    signed_fee = fee_paid if buying else -fee_paid
    expected = (notional + signed_fee) / filled_total
    if average * command.quantity < instrument.min_notional:
        return RouteCandidate(
            venue, "unsupported", f"below the minimum notional {decimal_str(instrument.min_notional)}"
        )
    return RouteCandidate(venue, "priced", detail, expected, average, fillable, age_ms)


def walk(levels: Sequence[Level], quantity: Decimal, limit: Decimal | None, buying: bool) -> Level:
    """(quantity filled, notional) taking `levels` best first up to `quantity`, not beyond `limit`."""
    filled = ZERO
    notional = ZERO
    for price, size in levels:
        if limit is not None and (price > limit if buying else price < limit):
            break
        take = min(size, quantity - filled)
        filled += take
        notional += take * price
        if filled >= quantity:
            break
    return filled, notional


def choose(command: SubmitOrder, candidates: tuple[RouteCandidate, ...]) -> RouteDecision:
    """The best fully covered price, else the deepest partly covered book, else the first healthy
    venue without a fresh book; when no venue can take the order now, a rejection."""
    buying = command.side is OrderSide.BUY
    priced = [c for c in candidates if c.status == "priced" and c.expected_price is not None]
    full = [c for c in priced if c.full]
    if full:
        best = min(full, key=lambda c: _rank(c, buying))
        return RouteDecision(best.venue, _best_reason(command, best, full, buying), candidates)
    if priced:
        best = max(priced, key=lambda c: (c.fillable or ZERO, -_rank(c, buying)))
        reason = f"no book covers {decimal_str(command.quantity)}; {best.venue} covers the most"
        return RouteDecision(best.venue, reason, candidates)
    bookless = [c for c in candidates if c.status == "no_book"]
    if bookless:
        reason = "no fresh order book yet: the first healthy venue in configured order"
        return RouteDecision(bookless[0].venue, reason, candidates)
    takers = [c for c in candidates if c.status == "unavailable"]
    if takers:
        why = "; ".join(f"{c.venue}: {c.detail}" for c in takers)
        return RouteDecision(
            takers[0].venue, "no healthy venue", candidates, f"no venue can take the order now ({why})"
        )
    listed = [c for c in candidates if not c.detail.startswith("no instrument")]
    venue = (listed or list(candidates))[0].venue
    why = "; ".join(f"{c.venue}: {c.detail}" for c in candidates)
    return RouteDecision(venue, "no venue takes this order", candidates, f"no venue takes this order ({why})")


def _rank(candidate: RouteCandidate, buying: bool) -> Decimal:
    price = candidate.expected_price
    assert price is not None
    return price if buying else -price


def _best_reason(command: SubmitOrder, best: RouteCandidate, full: list[RouteCandidate], buying: bool) -> str:
    size = f"{decimal_str(command.quantity)} {command.symbol}"
    others = sorted((c for c in full if c is not best), key=lambda c: _rank(c, buying))
    if not others:
        return f"the only venue with a book covering {size}"
    runner = others[0]
    assert best.expected_price is not None and runner.expected_price is not None
    gain = abs(runner.expected_price - best.expected_price) / runner.expected_price * 100
    return (
        f"best expected price after fees for {size}: {best.venue} {_shown(best.expected_price)} vs "
        f"{runner.venue} {_shown(runner.expected_price)} ({gain:.4f}% better)"
    )


def _grid_problem(instrument: Instrument, command: SubmitOrder) -> str | None:
    try:
        instrument.check_quantity(command.quantity)
        if command.price is not None:
            instrument.check_price(command.price)
        if command.stop_price is not None:
            instrument.check_price(command.stop_price, "stop_price")
    except ValidationError as error:
        return str(error)
    return None


def _shown(value: Decimal | None) -> str | None:
    """Twelve significant digits: enough to compare venues, short enough to read."""
    if value is None:
        return None
    return decimal_str(Decimal(format(value, ".12g")))
