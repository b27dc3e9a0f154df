"""Venue port: where orders go. Venues answer asynchronously through a report sink."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from tradeforge.domain.balances import Balance
from tradeforge.domain.errors import TradeForgeError
from tradeforge.domain.events import OrderEvent
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order

# The OMS gives each venue this callable; the venue calls it with OrderAccepted, OrderRejected,
# OrderFilled, OrderCancelled, OrderExpired, OrderAmended and OrderTriggered events. An in-process
# venue may call it before submit() returns; a remote one calls it later on the engine's thread.
VenueReportSink = Callable[[OrderEvent], None]


class VenueRequestRefused(TradeForgeError):
    """The venue refused a cancel or amend (the order is already done, or the change is invalid)."""


class Venue(Protocol):
    name: str

    def bind(self, sink: VenueReportSink) -> None:
        """Called once by the OMS before any order is sent."""
        ...

    def instruments(self) -> list[Instrument]: ...

    def submit(self, order: Order) -> None:
        """Send a new order (status pending). Never raises for venue-side refusals: reports
        OrderRejected with the reason instead."""
        ...

    def cancel(self, order: Order) -> None:
        """Request cancellation; reports OrderCancelled, or raises VenueRequestRefused."""
        ...

    def amend(self, order: Order, quantity: Decimal, price: Decimal | None) -> None:
        """Request a change of quantity and/or limit price; reports OrderAmended (and any fills the
        new price causes), or raises VenueRequestRefused."""
        ...

    def balances(self, account_id: str) -> list[Balance]:
        """The venue's view of the account's balances (the truth for reconciliation)."""
        ...

    def on_time(self, now_ms: int) -> None:
        """Housekeeping on the runtime's timer (about once a second): expire GTD orders when no
        market data arrives, poll a remote venue, and so on. Reports go through the sink."""
        ...

    def restore(self, working_orders: list[Order], balances: list[Balance]) -> None:
        """Reload state after a restart: working orders this venue holds and the account's balances.
        A remote venue instead reconciles against its own records."""
        ...
