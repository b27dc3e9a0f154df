"""What a strategy may touch: read-only views of its portfolio, orders and prices, and order helpers.

Prices and quantities given as Decimal or str are used as given (the OMS refuses off-grid values);
floats are put onto the instrument's grid first: prices rounded half-even to the tick size,
quantities floored to the lot size, so a float never trades more than asked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from tradeforge.domain.commands import CancelAllOrders, CancelOrder, Command, SubmitOrder
from tradeforge.domain.copies import Reduction, reduce_fields
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order, OrderStatus, OrderType, TimeInForce
from tradeforge.domain.values import ZERO, floor_to_step, round_to_step

if TYPE_CHECKING:
    from tradeforge.runtime.system import TradingSystem
    from tradeforge.strategies.emulation import OrderEmulator

Number = Decimal | str | float | int
Side = OrderSide | str


@dataclass(frozen=True, slots=True)
class OrderView:
    """A copy of an order's state at the time it was read; never the live order."""

    id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    status: OrderStatus
    filled_quantity: Decimal
    average_price: Decimal | None
    reject_reason: str | None

    def __init__(
        self,
        id: str,
        client_order_id: str,
        symbol: str,
        side: OrderSide,
        type: OrderType,
        quantity: Decimal,
        price: Decimal | None,
        stop_price: Decimal | None,
        status: OrderStatus,
        filled_quantity: Decimal,
        average_price: Decimal | None,
        reject_reason: str | None,
    ) -> None:
        # Written out: compiled, an explicit __init__ is native code and the dataclass one is not
        # (ADR 7; one per order a strategy sends). object.__setattr__ because the class is frozen.
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "client_order_id", client_order_id)
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "quantity", quantity)
        object.__setattr__(self, "price", price)
        object.__setattr__(self, "stop_price", stop_price)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "filled_quantity", filled_quantity)
        object.__setattr__(self, "average_price", average_price)
        object.__setattr__(self, "reject_reason", reject_reason)

    def __reduce__(self) -> Reduction:
        return reduce_fields(self)

    @classmethod
    def of(cls, order: Order) -> OrderView:
        return cls(
            order.id,
            order.client_order_id,
            order.symbol,
            order.side,
            order.type,
            order.quantity,
            order.price,
            order.stop_price,
            order.status,
            order.filled_quantity,
            order.average_price,
            order.reject_reason,
        )

    @property
    def is_working(self) -> bool:
        return self.status.is_working


@dataclass(frozen=True, slots=True)
class PositionView:
    """The account's net position in a symbol (shared by every strategy trading that account)."""

    symbol: str
    quantity: Decimal
    average_price: Decimal | None


class StrategyContext:
    """Bound to one strategy id. Orders it sends carry that strategy_id and client order ids
    `<strategy_id>-<n>`, n counting up (restored across restarts with the strategy's state)."""

    def __init__(
        self,
        system: TradingSystem,
        strategy_id: str,
        *,
        venue: str = "paper",
        on_submitted: Callable[[Order], None] = lambda _order: None,
    ) -> None:
        self._system = system
        self.strategy_id = strategy_id
        self.account_id = system.settings.account_id
        self.venue = venue
        self.sequence = 0
        self._on_submitted = on_submitted
        self._emulator: OrderEmulator | None = None

    def attach(self, emulator: OrderEmulator) -> None:
        self._emulator = emulator

    @property
    def emulator(self) -> OrderEmulator:
        if self._emulator is None:
            raise RuntimeError("no order emulator attached")
        return self._emulator

    # --- views ---------------------------------------------------------------------------------
    def now(self) -> int:
        return self._system.clock.now_ms()

    def instrument(self, symbol: str) -> Instrument:
        return self._system.instruments.get(self.venue, symbol)

    def position(self, symbol: str) -> PositionView:
        position = self._system.portfolio.position(self.account_id, symbol)
        if position is None:
            return PositionView(symbol, ZERO, None)
        return PositionView(symbol, position.quantity, position.average_price)

    def balances(self) -> dict[str, Decimal]:
        return {b.asset: b.total for b in self._system.portfolio.balances(self.account_id)}

    def available(self, asset: str) -> Decimal:
        return self._system.portfolio.available_balance(self.account_id, asset)

    def last_price(self, symbol: str) -> Decimal | None:
        return self._system.portfolio.last_price(symbol)

    def working_orders(self, symbol: str | None = None) -> list[OrderView]:
        """This strategy's own working orders, oldest first."""
        return [
            OrderView.of(order)
            for order in self._system.oms.working_orders(self.account_id)
            if order.strategy_id == self.strategy_id and (symbol is None or order.symbol == symbol)
        ]

    def order(self, order_id: str) -> OrderView | None:
        order = self._system.oms.get(order_id)
        if order is None or order.strategy_id != self.strategy_id:
            return None
        return OrderView.of(order)

    # --- order helpers -------------------------------------------------------------------------
    def market(self, symbol: str, side: Side, quantity: Number) -> OrderView:
        return self.submit(symbol, side, OrderType.MARKET, quantity)

    def limit(
        self,
        symbol: str,
        side: Side,
        quantity: Number,
        price: Number,
        time_in_force: TimeInForce = TimeInForce.GTC,
    ) -> OrderView:
        return self.submit(symbol, side, OrderType.LIMIT, quantity, price=price, time_in_force=time_in_force)

    def stop(self, symbol: str, side: Side, quantity: Number, stop_price: Number) -> OrderView:
        return self.submit(symbol, side, OrderType.STOP, quantity, stop_price=stop_price)

    def stop_limit(
        self, symbol: str, side: Side, quantity: Number, stop_price: Number, price: Number
    ) -> OrderView:
        return self.submit(symbol, side, OrderType.STOP_LIMIT, quantity, price=price, stop_price=stop_price)

    def submit(
        self,
        symbol: str,
        side: Side,
        type: OrderType,
        quantity: Number,
        *,
        price: Number | None = None,
        stop_price: Number | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
    ) -> OrderView:
        return OrderView.of(
            self.submit_live(
                symbol, side, type, quantity, price=price, stop_price=stop_price, time_in_force=time_in_force
            )
        )

    def submit_live(
        self,
        symbol: str,
        side: Side,
        type: OrderType,
        quantity: Number,
        *,
        price: Number | None = None,
        stop_price: Number | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        client_order_id: str | None = None,
    ) -> Order:
        """Internal (for the runner's emulation): send SubmitOrder and return the live order."""
        instrument = self.instrument(symbol)
        command = SubmitOrder(
            account_id=self.account_id,
            client_order_id=client_order_id or self.next_client_order_id(),
            symbol=instrument.symbol,
            side=to_side(side),
            type=type,
            quantity=to_quantity(instrument, quantity),
            price=None if price is None else to_price(instrument, price),
            stop_price=None if stop_price is None else to_price(instrument, stop_price, "stop_price"),
            time_in_force=time_in_force,
            venue=self.venue,
            strategy_id=self.strategy_id,
        )
        order: Order = self._system.bus.send(command)
        self._on_submitted(order)
        return order

    def next_client_order_id(self) -> str:
        self.sequence += 1
        return f"{self.strategy_id}-{self.sequence}"

    def live_order_by_client_id(self, client_order_id: str) -> Order | None:
        """Internal (for the runner's emulation): the live order, never handed to user code."""
        order_id = self._system.cache.order_id_for(self.account_id, client_order_id)
        return None if order_id is None else self._system.oms.get(order_id)

    def send(self, command: Command) -> object:
        """Internal (for the runner's emulation): send a command on the bus."""
        return self._system.bus.send(command)

    def cancel(self, order_id: str) -> OrderView:
        """Cancel one of this strategy's own working orders."""
        order = self._system.oms.get(order_id)
        if order is None or order.strategy_id != self.strategy_id:
            raise ValidationError("order_id", f"{order_id} is not an order of strategy {self.strategy_id}")
        cancelled: Order = self._system.bus.send(
            CancelOrder(self.account_id, order.id, f"cancelled by strategy {self.strategy_id}")
        )
        return OrderView.of(cancelled)

    def cancel_all(self, symbol: str | None = None) -> int:
        """Cancel this strategy's working orders (optionally of one symbol); returns how many."""
        cancelled: list[Order] = self._system.bus.send(
            CancelAllOrders(self.account_id, symbol, self.strategy_id, f"strategy {self.strategy_id}")
        )
        return len(cancelled)

    def bracket(
        self,
        symbol: str,
        side: Side,
        quantity: Number,
        stop_loss: Number,
        take_profit: Number,
        entry_price: Number | None = None,
    ) -> str:
        """An entry (market, or limit at entry_price); once it fills, a take-profit limit and a
        stop-loss stop on the other side form an OCO pair: when one fills the runner cancels the
        other. Returns the bracket id (the entry's client order id)."""
        instrument = self.instrument(symbol)
        return self.emulator.add_bracket(
            instrument,
            to_side(side),
            to_quantity(instrument, quantity),
            to_price(instrument, stop_loss, "stop_loss"),
            to_price(instrument, take_profit, "take_profit"),
            None if entry_price is None else to_price(instrument, entry_price, "entry_price"),
        )

    def trailing_stop(
        self,
        symbol: str,
        side: Side,
        quantity: Number,
        trail: Number | None = None,
        trail_percent: Number | None = None,
    ) -> str:
        """A stop order that follows the price: for a sell stop (protecting a long) the stop sits
        `trail` (absolute) or `trail_percent` % (1 = 1 %) below the highest bar close seen since it
        was placed, and is moved up (cancel and replace) after any bar whose close raises that high;
        a buy stop mirrors it above the lowest close. It never moves against the position. Returns
        the trailing stop's id; the current order is in working_orders()."""
        if (trail is None) == (trail_percent is None):
            raise ValidationError("trail", "give exactly one of trail and trail_percent")
        instrument = self.instrument(symbol)
        amount = None if trail is None else _positive(Decimal(str(trail)), "trail")
        percent = None if trail_percent is None else _positive(Decimal(str(trail_percent)), "trail_percent")
        return self.emulator.add_trailing_stop(
            instrument, to_side(side), to_quantity(instrument, quantity), amount, percent
        )


def to_side(side: Side) -> OrderSide:
    try:
        return side if isinstance(side, OrderSide) else OrderSide(side.lower())
    except ValueError as error:
        raise ValidationError("side", f"expected buy or sell, not {side!r}") from error


def to_price(instrument: Instrument, value: Number, field: str = "price") -> Decimal:
    if isinstance(value, float):
        return round_to_step(Decimal(repr(value)), instrument.tick_size)
    return _decimal(value, field)


def to_quantity(instrument: Instrument, value: Number) -> Decimal:
    if isinstance(value, float):
        return floor_to_step(Decimal(repr(value)), instrument.lot_size)
    return _decimal(value, "quantity")


def _decimal(value: Number, field: str) -> Decimal:
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError as error:
        raise ValidationError(field, f"{value!r} is not a number") from error


def _positive(value: Decimal, field: str) -> Decimal:
    if not value > ZERO:
        raise ValidationError(field, "must be greater than zero")
    return value
