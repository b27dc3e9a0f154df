"""What the built-in strategies share: config checks naming the field, and their own orders and holding."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from tradeforge.domain.errors import ValidationError
from tradeforge.domain.events import (
    OrderAmended,
    OrderCancelled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderStatus
from tradeforge.domain.values import ZERO
from tradeforge.strategies.base import BarView, Strategy
from tradeforge.strategies.context import OrderView

ConfigT = TypeVar("ConfigT")
Tag = dict[str, Any]


# --- config checks -----------------------------------------------------------------------------
def fail(field: str, message: str) -> ValidationError:
    return ValidationError(f"config.{field}", message)


def check_int(field: str, value: object, minimum: int = 1, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(field, f"must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise fail(field, f"must be {bounds}, got {value}")


def check_number(
    field: str, value: object, low: float = 0.0, high: float | None = None, *, or_equal: bool = False
) -> None:
    """A finite real number above low (or equal to it with or_equal), and below high when given."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal) or not _finite(value):
        raise fail(field, f"must be a number, got {value!r}")
    above = value >= low if or_equal else value > low
    if not (above and (high is None or value < high)):
        floor = f"at least {low}" if or_equal else f"greater than {low}"
        bounds = floor if high is None else f"{floor} and below {high}"
        raise fail(field, f"must be {bounds}, got {value}")


def _finite(value: float | Decimal) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else value - value == 0


def optional_float(config: object, field: str) -> float | None:
    """Coerce an optional float field given as a string (env, CLI) or an int, in a frozen config's
    __post_init__: build_config converts plain `float` fields itself but leaves `float | None` as given."""
    value: object = getattr(config, field)
    result: float | None
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            result = None if text in ("", "none", "null") else float(text)
        except ValueError:
            raise fail(field, f"{value!r} is not a number") from None
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        result = float(value)
    else:
        raise fail(field, f"must be a number or null, got {value!r}")
    object.__setattr__(config, field, result)
    return result


# --- own orders --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Change:
    """What an order event (or reconcile on start) changed about one of the strategy's orders: the
    quantity it newly filled, and whether the order is done (reported once, then forgotten)."""

    order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal  # the order's quantity, as last amended
    filled: Decimal  # filled by this change
    total: Decimal  # filled so far
    done: bool
    status: OrderStatus | None  # when done: filled, cancelled, rejected or expired
    tag: Tag

    @property
    def rest(self) -> Decimal:
        return self.quantity - self.total


@dataclass(frozen=True, slots=True)
class Working:
    """One of the strategy's orders still working as far as it has heard: the order as it is now,
    its tag, and what is left of it after the fills heard so far."""

    order: OrderView
    tag: Tag
    rest: Decimal


_ENDINGS: dict[type[OrderEvent], OrderStatus] = {
    OrderCancelled: OrderStatus.CANCELLED,
    OrderRejected: OrderStatus.REJECTED,
    OrderExpired: OrderStatus.EXPIRED,
}


class OwnOrders:
    """The strategy's own orders and holding per symbol, kept in its state (so they survive a restart).

    Counted from the events the strategy hears, as it hears them: a fill counts when its OrderFilled
    arrives; an order is done when its last fill, or its cancel, rejection or expiry arrives. Events
    are delivered in commit order, so the OMS (which `ctx.order` reads) can be ahead of what the
    strategy has heard: an exit placed on a fill may already have filled, an order it cancels may
    not be announced yet (its OrderSubmitted still on its way). The OMS is never read for fills:
    acting on a fill before its event would publish the reaction before its cause. It is only read
    to know whether anything of an order is still on its way (`settled`), and for the most an
    order can still change the holding (`outstanding`); and by reconcile, on start, for what
    happened while the strategy was not listening.

    Its OrderSubmitted (or a fill) starts tracking an order the strategy did not place itself
    (bracket exits and trailing stops placed by emulation). Should an order's end be heard before
    its OrderSubmitted (a delivery that does not keep commit order), the order is kept as done until
    then, and the events after that are not followed again."""

    def __init__(self, strategy: Strategy[Any]) -> None:
        self._strategy = strategy
        # Symbols found settled, and nothing heard or done with their orders since: nothing they
        # set off can be on its way (in memory: a restart checks again).
        self._quiet: set[str] = set()

    @property
    def _book(self) -> dict[str, Any]:
        # Looked up every time: the runner replaces `state` when it restores it.
        book: dict[str, Any] = self._strategy.state.setdefault("own", {"held": {}, "orders": {}})
        return book

    @property
    def _orders(self) -> dict[str, dict[str, Any]]:
        orders: dict[str, dict[str, Any]] = self._book["orders"]
        return orders

    def track(self, order: OrderView, tag: Tag | None = None) -> None:
        """Follow an order placed by the strategy (tag: JSON-able facts the strategy wants back)."""
        self._quiet.discard(order.symbol)
        entry = self._orders.get(order.id)
        if entry is None:
            self._orders[order.id] = _entry(order.symbol, order.side.value, order.quantity, tag)
        elif tag:
            entry["tag"] = tag

    def hear(self, event: OrderEvent) -> Change | None:
        """Account for one event of the strategy's own orders; what it changed, if anything."""
        orders = self._orders
        oid = event.order_id
        entry = orders.get(oid)
        if entry is None:
            if isinstance(event, OrderSubmitted):
                entry = _entry(event.symbol, event.side, event.quantity, None)
            elif isinstance(event, OrderFilled):  # a fill always counts, whatever came before it
                view = self._strategy.ctx.order(oid)
                quantity = event.fill.quantity if view is None else view.quantity
                entry = _entry(event.fill.symbol, event.fill.side.value, quantity, None)
            else:  # e.g. the OrderAccepted of an order that ended before it was heard: done with
                return None
            orders[oid] = entry
        self._quiet.discard(entry["symbol"])
        if isinstance(event, OrderSubmitted):
            entry["announced"] = True
            if entry.get("done"):
                del orders[oid]
            return None
        if entry.get("done"):
            return None  # a late event of an order already done (e.g. a cancel that lost the race)
        filled = ZERO
        ending = _ENDINGS.get(type(event))
        if isinstance(event, OrderFilled):
            filled = event.fill.quantity
            self._add(entry, filled)
            if Decimal(entry["filled"]) >= Decimal(entry["quantity"]):
                ending = OrderStatus.FILLED
        elif isinstance(event, OrderAmended):
            entry["quantity"] = str(event.quantity)
        if not filled and ending is None:
            return None
        change = _change(oid, entry, filled, ending)
        if ending is not None:
            if entry.get("announced"):
                del orders[oid]
            else:
                entry["done"] = True
        return change

    def reconcile(self) -> list[Change]:
        """On start: bring every tracked order up to date from the order itself (fills, cancels by
        the stop); nothing about them is still on its way then. Oldest order first."""
        orders = self._orders
        self._quiet.clear()
        changes = []
        for oid, entry in list(orders.items()):
            view = None if entry.get("done") else self._strategy.ctx.order(oid)
            if view is None:
                del orders[oid]
                continue
            filled = view.filled_quantity - Decimal(entry["filled"])
            entry["quantity"] = str(view.quantity)
            entry.pop("cancelling", None)
            self._add(entry, filled)
            ending = None if view.is_working else view.status
            if filled or ending is not None:
                changes.append(_change(oid, entry, filled, ending))
            if ending is not None:
                del orders[oid]
        return changes

    def settled(self, symbol: str) -> bool:
        """Whether it has heard everything the OMS knows of its orders in symbol: every order it
        follows is still working, with the fills and quantity it heard. The OMS is asked only when
        it has heard an event of its orders in symbol, or placed (track) or cancelled one there,
        since it last found symbol settled: what it neither did nor heard of since then is newer
        than what it decides on (a fill from later market data, a cancel through the API). An
        order the OMS does not know has nothing on its way."""
        if symbol in self._quiet:
            return True
        order = self._strategy.ctx.order
        for oid, entry in self._orders.items():
            if entry["symbol"] != symbol or entry.get("done"):
                continue
            view = order(oid)
            if view is not None and (
                not view.is_working
                or view.filled_quantity != Decimal(entry["filled"])
                or view.quantity != Decimal(entry["quantity"])
            ):
                return False
        self._quiet.add(symbol)
        return True

    def outstanding(self, symbol: str, side: OrderSide) -> Decimal:
        """The most its orders on side in symbol that it has not heard done can still add to its
        holding (buys) or take from it (sells), whatever it hears next: what is left of each as
        heard while the OMS has it working, only its fills still on their way once it has ended."""
        total = ZERO
        for oid, entry in self._orders.items():
            if entry["symbol"] != symbol or entry["side"] != side.value or entry.get("done"):
                continue
            quantity, filled = Decimal(entry["quantity"]), Decimal(entry["filled"])
            view = self._strategy.ctx.order(oid)
            if view is None or view.is_working:
                rest = (quantity if view is None else max(quantity, view.quantity)) - filled
            else:
                rest = view.filled_quantity - filled
            total += max(rest, ZERO)
        return total

    def _add(self, entry: dict[str, Any], filled: Decimal) -> None:
        if not filled:
            return
        entry["filled"] = str(Decimal(entry["filled"]) + filled)
        held: dict[str, str] = self._book["held"]
        signed = filled if entry["side"] == OrderSide.BUY.value else -filled
        held[entry["symbol"]] = str(Decimal(held.get(entry["symbol"], "0")) + signed)

    def cancel(self, order_id: str) -> bool:
        """Cancel one of its orders if it is still working; it stops counting as working at once.
        An order that is no longer working has an end on its way, which is heard as usual."""
        view = self._strategy.ctx.order(order_id)
        if view is None or not view.is_working:
            return False
        self._strategy.ctx.cancel(order_id)
        self._quiet.discard(view.symbol)
        entry = self._orders.get(order_id)
        if entry is not None:
            entry["cancelling"] = True
        return True

    def retag(self, order_id: str, tag: Tag) -> None:
        entry = self._orders.get(order_id)
        if entry is not None:
            entry["tag"] = tag

    def tag(self, order_id: str) -> Tag | None:
        entry = self._orders.get(order_id)
        return None if entry is None else dict(entry["tag"])

    def tracked(self) -> list[str]:
        return [oid for oid, entry in self._orders.items() if not entry.get("done")]

    def held(self, symbol: str) -> Decimal:
        return Decimal(self._book["held"].get(symbol, "0"))

    def working(self, symbol: str) -> list[Working]:
        """Its orders in symbol not heard to be done nor being cancelled by it, oldest first."""
        result = []
        for oid, entry in self._orders.items():
            if entry["symbol"] != symbol or entry.get("done") or entry.get("cancelling"):
                continue
            view = self._strategy.ctx.order(oid)
            if view is not None:
                rest = Decimal(entry["quantity"]) - Decimal(entry["filled"])
                result.append(Working(view, dict(entry["tag"]), rest))
        return result


def _entry(symbol: str, side: str, quantity: Decimal, tag: Tag | None) -> dict[str, Any]:
    return {"symbol": symbol, "side": side, "quantity": str(quantity), "filled": "0", "tag": tag or {}}


def _change(oid: str, entry: dict[str, Any], filled: Decimal, ending: OrderStatus | None) -> Change:
    quantity, total = Decimal(entry["quantity"]), Decimal(entry["filled"])
    side = OrderSide(entry["side"])
    return Change(
        oid, entry["symbol"], side, quantity, filled, total, ending is not None, ending, dict(entry["tag"])
    )


class TrackingStrategy(Strategy[ConfigT]):
    """A strategy whose holding is its own (OwnOrders in `self.own`): each event of its orders that
    fills or ends one is handed to `react` as it is heard; on start, what happened to its orders
    while it was stopped is handed to `resume`.

    Bars go to `on_settled_bar` once it has heard everything the OMS knows of its orders in the
    bar's symbol (`OwnOrders.settled`). A bar is delivered after the events of the unit that
    matched it, but the strategy's reactions to those (an answer or exit that filled at once) may
    still be on their way; the bar then waits for them, in order, and is handled as soon as the
    last of them is heard. So a bar decision sees the same holding and orders whatever the delivery
    order (a backtest hands it the bar only once every reaction has been delivered). A bar still
    waiting when the strategy stops is dropped."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.own = OwnOrders(self)
        self._waiting: dict[str, deque[BarView]] = {}
        self._releasing = False

    def on_start(self) -> None:
        self._waiting = {}
        self.resume(self.own.reconcile())

    def on_bar(self, bar: BarView) -> None:
        waiting = self._waiting.get(bar.symbol)
        if waiting is not None:
            waiting.append(bar)
            self._release()
        elif self._releasing or not self.own.settled(bar.symbol):
            self._waiting[bar.symbol] = deque((bar,))
        else:
            self.on_settled_bar(bar)

    def on_order_event(self, event: OrderEvent) -> None:
        change = self.own.hear(event)
        if change is not None:
            self.react([change])
        if self._waiting:
            self._release()

    def _release(self) -> None:
        """Hand waiting bars over, oldest first, while their symbol is settled. Not re-entered: a
        bar handler whose orders are heard at once (a delivery that does not wait for the unit)
        finishes before the next bar is handed over."""
        if self._releasing:
            return
        self._releasing = True
        try:
            released = True
            while released:
                released = False
                for symbol, waiting in list(self._waiting.items()):
                    while waiting and self.own.settled(symbol):
                        self.on_settled_bar(waiting.popleft())
                        released = True
                    if not waiting:
                        del self._waiting[symbol]
        finally:
            self._releasing = False

    def on_settled_bar(self, bar: BarView) -> None:
        """A closed bar, once every event of its orders in bar.symbol the OMS knows has been heard."""

    def resume(self, changes: list[Change]) -> None:
        """Fills and ends of its orders while it was stopped (before any bar: no price may be known
        yet). By default handled as if just heard."""
        if changes:
            self.react(changes)

    def react(self, changes: list[Change]) -> None:
        """Its orders filled or ended (oldest first)."""

    def held(self, symbol: str) -> Decimal:
        return self.own.held(symbol)
