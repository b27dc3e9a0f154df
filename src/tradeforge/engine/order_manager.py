"""Order management system: validates, risk-checks, routes and tracks every order to a final state."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from decimal import Decimal

from tradeforge.bus import topics
from tradeforge.bus.message_bus import MessageBus
from tradeforge.domain.commands import AmendOrder, CancelAllOrders, CancelOrder, SubmitOrder
from tradeforge.domain.copies import snapshot
from tradeforge.domain.errors import OrderNotAmendable, OrderNotFound, TradeForgeError, ValidationError
from tradeforge.domain.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
)
from tradeforge.domain.identifiers import IdGenerator, validate_client_order_id
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order, OrderType, TimeInForce
from tradeforge.engine.instruments import InstrumentRegistry
from tradeforge.engine.order_cache import OrderCache
from tradeforge.engine.portfolio import Portfolio
from tradeforge.engine.recorder import UnitRecorder
from tradeforge.engine.risk_engine import RiskEngine
from tradeforge.engine.router import AUTO_VENUE, ROUTE_AUDIT_ACTION, OrderRouter
from tradeforge.ports.clock import Clock
from tradeforge.ports.venue import Venue, VenueRequestRefused

logger = logging.getLogger(__name__)

EVENT_KINDS: dict[type[OrderEvent], str] = {
    OrderSubmitted: "submitted",
    OrderAccepted: "accepted",
    OrderRejected: "rejected",
    OrderFilled: "filled",
    OrderCancelled: "cancelled",
    OrderExpired: "expired",
    OrderAmended: "amended",
    OrderTriggered: "triggered",
}
ORDER_TOPICS = {cls: topics.order_event(kind) for cls, kind in EVENT_KINDS.items()}

StoredOrderLookup = Callable[[str], Order | None]


class ClientOrderIdConflict(TradeForgeError):
    """A client_order_id reused for an order with different parameters."""

    def __init__(self, client_order_id: str, order_id: str) -> None:
        super().__init__(
            f"client_order_id {client_order_id!r} already identifies order {order_id} with other parameters"
        )
        self.order_id = order_id


class OrderManager:
    """Handles SubmitOrder, CancelOrder, AmendOrder and CancelAllOrders, and every venue report.

    Everything runs on one thread inside a recorder unit, so the order, its fills, the positions and
    balances they move, and the outbox events are one transaction."""

    def __init__(
        self,
        *,
        clock: Clock,
        bus: MessageBus,
        instruments: InstrumentRegistry,
        venues: Mapping[str, Venue],
        cache: OrderCache,
        portfolio: Portfolio,
        risk: RiskEngine,
        recorder: UnitRecorder,
        stored_order: StoredOrderLookup = lambda _order_id: None,
        router: OrderRouter | None = None,
        venue_gate: Callable[[Order], str | None] | None = None,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._instruments = instruments
        self._venues = dict(venues)
        self._cache = cache
        self._portfolio = portfolio
        self._risk = risk
        self._recorder = recorder
        self._stored_order = stored_order
        self._router = router
        self._venue_gate = venue_gate  # per-venue trading state (reconciliation): None = no gate
        self._order_ids = IdGenerator("O")
        for venue in self._venues.values():
            venue.bind(self.on_venue_report)
        bus.register(SubmitOrder, self.submit)
        bus.register(CancelOrder, self.cancel)
        bus.register(AmendOrder, self.amend)
        bus.register(CancelAllOrders, self.cancel_all)

    # --- commands ------------------------------------------------------------------------------
    def submit(self, command: SubmitOrder) -> Order:
        """Create the order, or return the existing one when client_order_id was seen before."""
        existing_id = self._cache.order_id_for(command.account_id, command.client_order_id)
        if existing_id is not None:
            existing = self.get(existing_id)
            if existing is not None:
                if not _same_request(existing, command):
                    raise ClientOrderIdConflict(command.client_order_id, existing.id)
                return existing
        route = None
        if command.venue == AUTO_VENUE and self._router is not None:
            route = self._router.route(command)  # best execution: the venue is chosen before validation
            command = route.apply(command)
        instrument = self._validate(command)
        now = self._clock.now_ms()
        order = Order(
            id=self._order_ids.next(),
            client_order_id=command.client_order_id,
            account_id=command.account_id,
            venue=command.venue,
            symbol=instrument.symbol,
            side=command.side,
            type=command.type,
            quantity=command.quantity,
            price=command.price,
            stop_price=command.stop_price,
            time_in_force=command.time_in_force,
            expire_at=command.expire_at,
            strategy_id=command.strategy_id,
            created_at=now,
            updated_at=now,
        )
        # Checked before the order joins the working set, so it is not counted against itself.
        reason = self._risk.check(order) if route is None or route.rejection is None else route.rejection
        if reason is None and self._venue_gate is not None:
            reason = self._venue_gate(order)
        with self._recorder.unit():
            self._cache.add(order)
            self._recorder.order(order)
            self._recorder.event(ORDER_TOPICS[OrderSubmitted], order.submitted_event(now))
            if route is not None and route.recorded:
                self._recorder.audit(now, "router", ROUTE_AUDIT_ACTION, order.id, route.to_dict())
            if reason is not None:
                self._apply(order, OrderRejected(now, order.id, reason))
            else:
                self._venues[order.venue].submit(order)
        return order

    def cancel(self, command: CancelOrder) -> Order:
        order = self._working_order(command.account_id, command.order_id)
        with self._recorder.unit():
            try:
                self._venues[order.venue].cancel(order)
            except VenueRequestRefused as refused:
                raise OrderNotAmendable(str(refused)) from refused
        return order

    def amend(self, command: AmendOrder) -> Order:
        order = self._working_order(command.account_id, command.order_id)
        if command.quantity is None and command.price is None:
            raise ValidationError("body", "give a new quantity, a new price, or both")
        order.check_amendable(command.quantity, command.price)
        instrument = self._instruments.get(order.venue, order.symbol)
        quantity = order.quantity if command.quantity is None else instrument.check_quantity(command.quantity)
        price = order.price if command.price is None else instrument.check_price(command.price)
        self._check_amend_risk(order, quantity, price)
        with self._recorder.unit():
            try:
                self._venues[order.venue].amend(order, quantity, price)
            except VenueRequestRefused as refused:
                raise OrderNotAmendable(str(refused)) from refused
        return order

    def cancel_all(self, command: CancelAllOrders) -> list[Order]:
        cancelled: list[Order] = []
        with self._recorder.unit():
            for order in self._cache.all_working():
                if command.account_id is not None and order.account_id != command.account_id:
                    continue
                if command.symbol is not None and order.symbol != command.symbol:
                    continue
                if command.strategy_id is not None and order.strategy_id != command.strategy_id:
                    continue
                try:
                    self._venues[order.venue].cancel(order)
                except VenueRequestRefused:
                    logger.info("order %s could not be cancelled: already done at the venue", order.id)
                    continue
                cancelled.append(order)
        return cancelled

    # --- venue reports -------------------------------------------------------------------------
    def on_venue_report(self, event: OrderEvent) -> None:
        order = self._cache.working(event.order_id)
        if order is None:
            logger.error("venue report for an order that is not working: %r", event)
            return
        with self._recorder.unit():
            self._apply(order, event)
            if isinstance(event, OrderFilled):
                fill = event.fill
                self._recorder.fill(fill)
                position, balances = self._portfolio.apply_fill(fill)
                recorder = self._recorder
                recorder.position(position)
                for balance in balances:
                    recorder.balance(balance)
                recorder.publish(topics.fill(fill.symbol), fill)
                # Positions and balances are stored in their own tables; their change events exist
                # for listeners only, so they are not even built when nobody listens (backtests).
                wants = self._bus.wants
                topic = topics.position(fill.symbol)
                if wants(topic):
                    recorder.publish(topic, Portfolio.position_event(position, fill.ts))
                for balance in balances:
                    topic = topics.balance(balance.asset)
                    if wants(topic):
                        recorder.publish(topic, Portfolio.balance_event(balance, fill.ts))

    # --- queries -------------------------------------------------------------------------------
    def get(self, order_id: str) -> Order | None:
        return self._cache.get(order_id) or self._stored_order(order_id)

    def working_orders(self, account_id: str) -> list[Order]:
        return self._cache.working_for_account(account_id)

    # --- internals -----------------------------------------------------------------------------
    def _apply(self, order: Order, event: OrderEvent) -> None:
        order.apply(event)
        self._recorder.order(order)
        self._recorder.event(ORDER_TOPICS[type(event)], event)
        if not order.is_working:
            self._cache.retire(order)

    def _working_order(self, account_id: str, order_id: str) -> Order:
        order = self.get(order_id)
        if order is None or order.account_id != account_id:
            raise OrderNotFound(order_id)
        if not order.is_working:
            raise OrderNotAmendable(f"order {order_id} is already {order.status.value}")
        return order

    def _validate(self, command: SubmitOrder) -> Instrument:
        validate_client_order_id(command.client_order_id)
        if command.venue not in self._venues:
            raise ValidationError("venue", f"unknown venue {command.venue!r}; known: {sorted(self._venues)}")
        instrument = self._instruments.get(command.venue, command.symbol)
        instrument.check_quantity(command.quantity)
        kind = command.type
        needs_price = kind in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = kind in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_price and command.price is None:
            raise ValidationError("price", f"a {kind.value} order needs a price")
        if not needs_price and command.price is not None:
            raise ValidationError("price", f"a {kind.value} order takes no price")
        if needs_stop and command.stop_price is None:
            raise ValidationError("stop_price", f"a {kind.value} order needs a stop_price")
        if not needs_stop and command.stop_price is not None:
            raise ValidationError("stop_price", f"a {kind.value} order takes no stop_price")
        if command.price is not None:
            instrument.check_price(command.price)
        if command.stop_price is not None:
            instrument.check_price(command.stop_price, "stop_price")
        if command.time_in_force is TimeInForce.GTD:
            if command.expire_at is None:
                raise ValidationError("expire_at", "a GTD order needs expire_at")
            if command.expire_at <= self._clock.now_ms():
                raise ValidationError("expire_at", "must be in the future")
        elif command.expire_at is not None:
            raise ValidationError("expire_at", "only GTD orders take expire_at")
        reference = command.price or command.stop_price or self._portfolio.last_price(instrument.symbol)
        if reference is not None:
            instrument.check_notional(command.quantity, reference)
        return instrument

    def _check_amend_risk(self, order: Order, quantity: Decimal, price: Decimal | None) -> None:
        proposed = snapshot(order)
        proposed.quantity = quantity
        proposed.price = price
        self._cache.exclude(order.id)
        try:
            reason = self._risk.check(proposed)
            if reason is None and self._venue_gate is not None:
                reason = self._venue_gate(proposed)
        finally:
            self._cache.exclude(None)
        if reason is not None:
            raise OrderNotAmendable(f"amendment refused by risk: {reason}")


def _same_request(order: Order, command: SubmitOrder) -> bool:
    return (
        order.symbol == command.symbol
        and order.side is command.side
        and order.type is command.type
        and order.quantity == command.quantity
        and order.price == command.price
        and order.stop_price == command.stop_price
        and (order.venue == command.venue or command.venue == AUTO_VENUE)
        and order.time_in_force is command.time_in_force
        and order.expire_at == command.expire_at
        and order.strategy_id == command.strategy_id
    )
