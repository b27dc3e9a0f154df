"""Order workflows against one venue: create (with ambiguity resolution), cancel, amend, follow fills."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradeforge.adapters.ccxt.capabilities import AmendStyle
from tradeforge.adapters.ccxt.client import VenueClient
from tradeforge.adapters.ccxt.errors import (
    VenueCircuitOpen,
    VenueDuplicateClientId,
    VenueError,
    VenueOrderNotFound,
    VenueOrderRejected,
)
from tradeforge.adapters.ccxt.replace import adopt_replacement, amend_by_replace
from tradeforge.adapters.ccxt.tracking import TrackedOrder
from tradeforge.adapters.ccxt.translate import VenueOrder, order_from_ccxt, trade_from_ccxt
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
)
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import OrderStatus, OrderType, TimeInForce
from tradeforge.domain.values import ZERO, decimal_str
from tradeforge.ports.clock import Clock
from tradeforge.ports.venue import VenueRequestRefused

logger = logging.getLogger(__name__)

_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED})
_SEEN_TRADES_KEPT = 200_000
_IMMEDIATE = frozenset({TimeInForce.IOC, TimeInForce.FOK})


@dataclass(frozen=True, slots=True)
class RequestRefusal:
    """A cancel or amend the venue refused after the port call had returned."""

    order_id: str
    action: str
    reason: str
    ts: int


class OrderWorkflow:
    """The asynchronous half of the adapter. Every method runs on the event loop, under the order's
    lock, and reports through `report` (the venue hands events to the OMS's sink)."""

    def __init__(
        self,
        client: VenueClient,
        *,
        clock: Clock,
        instruments: Mapping[str, Instrument],
        report: Callable[[OrderEvent], None],
        refuse: Callable[[RequestRefusal], None],
        anomaly: Callable[[str], None],
        trade_lookback_ms: int,
        resubmit_absent: bool,
    ) -> None:
        self.client = client
        self.caps = client.capabilities
        self.name = self.caps.name
        self._clock = clock
        self._instruments = instruments
        self._report = report
        self._refuse = refuse
        self._anomaly = anomaly
        self._lookback_ms = trade_lookback_ms
        self._resubmit_absent = resubmit_absent
        self.by_venue_id: dict[str, TrackedOrder] = {}
        self.seen_trades: OrderedDict[str, None] = OrderedDict()

    # -- creating -----------------------------------------------------------------------------------
    async def create(self, tracked: TrackedOrder) -> None:
        async with tracked.lock:
            placed = await self.place(tracked)
            if placed is not None:
                await self.follow_quietly(tracked, placed)

    def create_params(self, tracked: TrackedOrder) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": tracked.venue_client_id}
        if tracked.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            params["timeInForce"] = tracked.time_in_force.value
        if tracked.is_stop and tracked.stop_price is not None:
            params[self.caps.stops.price_param] = float(tracked.stop_price)
        return params

    async def place(self, tracked: TrackedOrder) -> VenueOrder | None:
        """Send the create until it is placed or definitively refused, never again while the venue
        may already hold it. Returns the placed order, or None (rejected, or left unresolved)."""
        client = self.client
        backoff = client.backoffs.backoff()
        maybe_sent = False
        price = tracked.price if tracked.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        while True:
            try:
                raw = await client.create_order(
                    tracked.symbol,
                    tracked.ccxt_type,
                    tracked.side.value,
                    tracked.quantity,
                    price,
                    self.create_params(tracked),
                )
            except VenueError as error:
                if error.ambiguous or (maybe_sent and isinstance(error, VenueDuplicateClientId)):
                    maybe_sent = True
                    # Let the venue settle, then ask it: only a proven absence allows another send.
                    delay = backoff.next_delay(error.retry_after_s)
                    await client.sleep(delay if delay is not None else client.retry.base_delay_s)
                    try:
                        found = await client.find_by_client_id(
                            tracked.symbol, tracked.venue_client_id, tracked.is_stop
                        )
                    except VenueError as lookup_error:
                        tracked.unresolved = True
                        logger.warning(
                            "%s: create of %s is ambiguous (%s) and the lookup failed (%s); "
                            "resolving on the next poll",
                            self.name,
                            tracked.order_id,
                            error,
                            lookup_error,
                        )
                        return None
                    if found is not None:
                        placed = order_from_ccxt(found)
                        self.accept(tracked, placed.venue_order_id)
                        return placed
                    if delay is None:
                        self.reject(tracked, f"venue {self.name} did not take the order: {error.detail}")
                        return None
                    logger.info(
                        "%s: %s is provably not on the venue; sending again", self.name, tracked.order_id
                    )
                    continue
                if error.retryable:
                    delay = backoff.next_delay(error.retry_after_s)
                    if delay is not None:
                        await client.sleep(delay)
                        continue
                if maybe_sent and isinstance(error, VenueOrderRejected):
                    # A resend refused (as a duplicate, under whatever code): did a late first copy land?
                    late = await self._lookup_quietly(tracked)
                    if late is not None:
                        self.accept(tracked, late.venue_order_id)
                        return late
                self.reject(tracked, self.reason(error))
                return None
            placed = order_from_ccxt(raw)
            self.accept(tracked, placed.venue_order_id)
            return placed

    async def _lookup_quietly(self, tracked: TrackedOrder) -> VenueOrder | None:
        try:
            found = await self.client.find_by_client_id(
                tracked.symbol, tracked.venue_client_id, tracked.is_stop
            )
        except VenueError:
            return None
        return order_from_ccxt(found) if found is not None else None

    async def resolve(self, tracked: TrackedOrder) -> None:
        """An order whose venue state is unknown: find it by client order id (never resend blindly)."""
        try:
            found = await self.client.find_by_client_id(
                tracked.symbol, tracked.venue_client_id, tracked.is_stop
            )
        except VenueError as error:
            logger.info("%s: %s still unresolved: %s", self.name, tracked.order_id, error)
            return
        replace, tracked.replace_in_doubt = tracked.replace_in_doubt, None
        if found is not None:
            placed = order_from_ccxt(found)
            if replace is not None and placed.venue_order_id not in tracked.venue_order_ids:
                tracked.unresolved = False  # the cancel-replace landed: its answer was lost
                await adopt_replacement(self, tracked, placed.venue_order_id, replace)
                return
            self.accept(tracked, placed.venue_order_id)
            await self.follow_quietly(tracked, placed)
            return
        tracked.unresolved = False
        if tracked.accepted:
            await self.follow_quietly(tracked)  # no order under its client id: its venue id decides
        elif tracked.cancel_requested:
            tracked.done = True
            self._report(
                OrderCancelled(self._clock.now_ms(), tracked.order_id, "cancelled before it was sent")
            )
        elif self._resubmit_absent:
            sent = await self.place(tracked)
            if sent is not None:
                await self.follow_quietly(tracked, sent)
        else:
            self.reject(tracked, f"not found on venue {self.name}")

    # -- cancelling -----------------------------------------------------------------------------------
    async def cancel(self, tracked: TrackedOrder) -> None:
        async with tracked.lock:
            if tracked.unresolved and not tracked.done:
                await self.resolve(tracked)
            if tracked.done or not tracked.accepted or tracked.venue_order_id is None:
                return
            try:
                await self.client.cancel_order(
                    tracked.venue_order_id, tracked.symbol, tracked.untriggered_stop
                )
            except VenueOrderNotFound:
                pass  # it ended on its own (filled, cancelled out of band): follow() says how
            except VenueError as error:
                tracked.cancel_requested = tracked.expiring = False
                self.refuse(tracked, "cancel", str(error))
                return
            await self.follow_quietly(tracked)

    # -- amending -----------------------------------------------------------------------------------
    async def amend(self, tracked: TrackedOrder, quantity: Decimal, price: Decimal | None) -> None:
        async with tracked.lock:
            if tracked.done or tracked.venue_order_id is None:
                self.refuse(tracked, "amend", "the order is no longer working")
                return
            if self.caps.amend_style is AmendStyle.NATIVE:
                await self._amend_native(tracked, quantity, price)
            else:
                await amend_by_replace(self, tracked, quantity, price)

    def amend_params(self, tracked: TrackedOrder) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if tracked.untriggered_stop:
            params.update(self.caps.stops.untriggered_params)
        if tracked.is_stop and tracked.stop_price is not None:
            params[self.caps.stops.edit_param] = float(tracked.stop_price)
        return params

    async def _amend_native(self, tracked: TrackedOrder, quantity: Decimal, price: Decimal | None) -> None:
        client = self.client
        venue_order_id = tracked.venue_order_id
        assert venue_order_id is not None
        backoff = client.backoffs.backoff()
        maybe_applied = False
        while True:
            try:
                await client.edit_order(
                    venue_order_id,
                    tracked.symbol,
                    tracked.ccxt_type,
                    tracked.side.value,
                    quantity,
                    price,
                    self.amend_params(tracked),
                )
                break
            except VenueError as error:
                # An amend sets absolute values, so "did it land?" is a comparison with the venue.
                maybe_applied = maybe_applied or error.ambiguous
                if maybe_applied and await self._amend_landed(tracked, quantity, price):
                    break
                delay = backoff.next_delay(error.retry_after_s) if error.retryable else None
                if delay is None:
                    tracked.amend_in_doubt = tracked.amend_in_doubt or maybe_applied
                    self.refuse(tracked, "amend", str(error))
                    await self.follow_quietly(tracked)
                    return
                await client.sleep(delay)
        self.report_amended(tracked, quantity, price)
        await self.follow_quietly(tracked)

    async def _amend_landed(self, tracked: TrackedOrder, quantity: Decimal, price: Decimal | None) -> bool:
        try:
            current = await self.fetch_order(tracked.venue_order_id or "", tracked)
        except VenueError:
            return False
        return current.quantity == quantity and (price is None or current.price == price)

    def take_venue_amend(self, tracked: TrackedOrder, snapshot: VenueOrder) -> None:
        """A native amend whose answer was lost (refused here, yet it landed) left the venue's order
        with another quantity or limit price: take the venue's values before booking its trades, or
        every trade beyond the old quantity would look like an overfill. `snapshot` must be fresh
        (read under the order's lock): a stale one would undo an amend made since."""
        if self.caps.amend_style is not AmendStyle.NATIVE or tracked.type not in self.caps.amendable:
            return
        if snapshot.venue_order_id != tracked.venue_order_id or snapshot.quantity is None:
            return
        tracked.amend_in_doubt = False  # the venue's values are known now
        quantity = snapshot.quantity
        priced = tracked.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and snapshot.price is not None
        price = snapshot.price if priced and snapshot.price != tracked.price else tracked.price
        if quantity == tracked.quantity and price == tracked.price:
            return
        if quantity <= tracked.filled:
            self._anomaly(
                f"{tracked.order_id}: venue order {snapshot.venue_order_id} holds {decimal_str(quantity)}, "
                f"not above the {decimal_str(tracked.filled)} reported filled; reconcile it"
            )
            return
        logger.warning(
            "%s: %s is %s @ %s on the venue, %s @ %s here (an amend whose answer was lost)",
            self.name,
            tracked.order_id,
            quantity,
            price,
            tracked.quantity,
            tracked.price,
        )
        self.report_amended(tracked, quantity, price)

    def report_amended(self, tracked: TrackedOrder, quantity: Decimal, price: Decimal | None) -> None:
        tracked.amend_in_doubt = False
        tracked.quantity = quantity
        tracked.price = price
        self._report(
            OrderAmended(self._clock.now_ms(), tracked.order_id, quantity, price, tracked.stop_price)
        )

    # -- following an order: fills first, then its final status --------------------------------------
    async def fetch_order(self, venue_order_id: str, tracked: TrackedOrder) -> VenueOrder:
        return order_from_ccxt(await self.client.fetch_order(venue_order_id, tracked.symbol, tracked.is_stop))

    async def follow(self, tracked: TrackedOrder, snapshot: VenueOrder | None) -> None:
        """Report what the live venue order did that the OMS does not know yet: its new fills,
        then its final status once every fill it reports has been booked."""
        venue_order_id = tracked.venue_order_id
        if venue_order_id is None or tracked.done:
            return
        if snapshot is None or snapshot.status is None or snapshot.filled is None:
            snapshot = await self.fetch_order(venue_order_id, tracked)
        if tracked.restored:
            await self._match_baseline(tracked)
        venue_filled = snapshot.filled or ZERO
        await self.collect(tracked, venue_order_id, venue_filled)
        if snapshot.status not in _TERMINAL or tracked.done:
            return
        if tracked.filled_by_venue_id.get(venue_order_id, ZERO) < venue_filled:
            logger.info("%s: trades of %s lag its status; following up later", self.name, venue_order_id)
            return
        self._finish(tracked, snapshot)

    async def follow_quietly(self, tracked: TrackedOrder, snapshot: VenueOrder | None = None) -> None:
        try:
            await self.follow(tracked, snapshot)
        except VenueError as error:
            logger.info(
                "%s: %s not followed now (%s); the next poll will", self.name, tracked.order_id, error
            )

    async def _match_baseline(self, tracked: TrackedOrder) -> None:
        """After a restart: the oldest trades of every known venue order of this order, up to what
        the OMS had booked, are the ones it booked (their trade ids were not kept)."""
        since = tracked.created_at - self._lookback_ms
        trades: list[dict[str, Any]] = []
        for venue_order_id in tracked.venue_order_ids:
            trades.extend(await self.client.order_trades(venue_order_id, tracked.symbol, since))
        tracked.restored = False
        self.book(tracked, trades, match_baseline=True)
        if tracked.baseline > ZERO:
            self._anomaly(
                f"{tracked.order_id}: {decimal_str(tracked.baseline)} booked before the restart match "
                "no trade of a known venue order (a replaced order id was not kept)"
            )

    async def collect(self, tracked: TrackedOrder, venue_order_id: str, venue_filled: Decimal) -> None:
        """Book the venue order's unreported trades when it filled more than we know."""
        if venue_filled <= tracked.filled_by_venue_id.get(venue_order_id, ZERO):
            return
        since = tracked.created_at - self._lookback_ms
        trades = await self.client.order_trades(venue_order_id, tracked.symbol, since)
        self.book(tracked, trades)

    def book(
        self, tracked: TrackedOrder, raw_trades: list[dict[str, Any]], *, match_baseline: bool = False
    ) -> None:
        instrument = self._instruments[tracked.symbol]
        now = self._clock.now_ms()
        trades = []
        for raw in raw_trades:
            try:
                trades.append(trade_from_ccxt(raw, instrument, now, tracked.side))
            except ValidationError as error:  # not marked seen: a later, complete listing books it
                self._anomaly(f"{tracked.order_id}: unusable trade from the venue: {error}")
        oldest_first = match_baseline
        for trade in sorted(trades, key=lambda t: (t.ts, t.trade_id)):
            venue_order_id = trade.venue_order_id
            if venue_order_id not in tracked.venue_order_ids:
                continue
            seen = trade.trade_id in self.seen_trades
            known = tracked.filled_by_venue_id.get(venue_order_id, ZERO)
            # After a restart the OMS's booked quantity is matched to trades marked seen (its
            # stored fills, via mark_trades_seen) or else to the oldest trades.
            if match_baseline and tracked.baseline >= trade.quantity and (seen or oldest_first):
                self.remember_trade(trade.trade_id)
                tracked.baseline -= trade.quantity
                tracked.filled_by_venue_id[venue_order_id] = known + trade.quantity
                continue
            if seen:
                continue
            oldest_first = False  # the OMS booked the oldest trades only: the rest are new
            if tracked.filled + trade.quantity > tracked.quantity:
                # Not marked seen: once the quantity is known (a lost amend taken over by a sync),
                # a later follow books it; marked, every sync the reconciler asks for would skip it.
                text = f"{tracked.order_id}: trade {trade.trade_id} would overfill; reconcile it"
                if tracked.amend_in_doubt:
                    logger.warning("%s: %s (an amend whose answer was lost may have landed)", self.name, text)
                else:
                    self._anomaly(text)
                continue
            self.remember_trade(trade.trade_id)
            if tracked.untriggered_stop and tracked.filled == ZERO:
                tracked.triggered = True
                self._report(OrderTriggered(trade.ts, tracked.order_id))
            tracked.filled_by_venue_id[venue_order_id] = known + trade.quantity
            if tracked.filled >= tracked.quantity:
                tracked.done = True
            fill = trade.to_fill(
                self.name, tracked.order_id, tracked.client_order_id, tracked.account_id, tracked.strategy_id
            )
            self._report(OrderFilled(trade.ts, tracked.order_id, fill))

    def _finish(self, tracked: TrackedOrder, snapshot: VenueOrder) -> None:
        now = self._clock.now_ms()
        status = snapshot.status
        event: OrderEvent
        if status is OrderStatus.FILLED:
            if tracked.filled >= tracked.quantity:
                tracked.done = True
                return
            left = decimal_str(tracked.quantity - tracked.filled)
            event = OrderExpired(now, tracked.order_id, f"closed by venue {self.name} with {left} unfilled")
        elif status is OrderStatus.CANCELLED and tracked.expiring:
            event = OrderExpired(now, tracked.order_id, "expired (GTD)")
        elif status is OrderStatus.CANCELLED and tracked.time_in_force in _IMMEDIATE:
            tif = tracked.time_in_force.value
            event = OrderExpired(now, tracked.order_id, f"{tif}: the rest was not fillable at once")
        elif status is OrderStatus.CANCELLED:
            reason = "cancelled" if tracked.cancel_requested else f"cancelled by venue {self.name}"
            event = OrderCancelled(now, tracked.order_id, reason)
        elif status is OrderStatus.EXPIRED:
            event = OrderExpired(now, tracked.order_id, "expired")
        else:
            event = OrderCancelled(now, tracked.order_id, f"rejected by venue {self.name}")
        tracked.done = True
        self._report(event)

    # -- small steps ----------------------------------------------------------------------------------
    def accept(self, tracked: TrackedOrder, venue_order_id: str) -> None:
        tracked.unresolved = False
        self.add_venue_order_id(tracked, venue_order_id)
        if not tracked.accepted:
            tracked.accepted = True
            self._report(OrderAccepted(self._clock.now_ms(), tracked.order_id, venue_order_id))

    def add_venue_order_id(self, tracked: TrackedOrder, venue_order_id: str) -> None:
        if venue_order_id not in tracked.venue_order_ids:
            tracked.venue_order_ids.append(venue_order_id)
            self.by_venue_id[venue_order_id] = tracked

    def reject(self, tracked: TrackedOrder, reason: str) -> None:
        tracked.done = True
        tracked.unresolved = False
        self._report(OrderRejected(self._clock.now_ms(), tracked.order_id, reason))

    def refuse(self, tracked: TrackedOrder, action: str, reason: str) -> None:
        logger.warning("%s refused to %s order %s: %s", self.name, action, tracked.order_id, reason)
        self._refuse(RequestRefusal(tracked.order_id, action, reason, self._clock.now_ms()))

    def reason(self, error: VenueError) -> str:
        if isinstance(error, VenueCircuitOpen):
            return f"venue {self.name} {error.detail}"
        return f"venue {self.name}: {error.kind.replace('_', ' ')}: {error.detail}"

    def remember_trade(self, trade_id: str) -> None:
        self.seen_trades[trade_id] = None
        if len(self.seen_trades) > _SEEN_TRADES_KEPT:
            self.seen_trades.popitem(last=False)

    def instrument(self, symbol: str) -> Instrument:
        instrument = self._instruments.get(symbol)
        if instrument is None:
            raise VenueRequestRefused(f"unknown instrument {symbol} on venue {self.name}")
        return instrument
