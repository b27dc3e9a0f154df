"""Orders the venue does not offer, emulated for one strategy: brackets with an OCO exit pair, trailing stops.

Emulation is driven by the runner: every event of the strategy's orders (with the live order read
back from the OMS) and every bar of its symbols. Orders are keyed by client order id, which is
chosen before the order is sent, so an event published while the order is still being submitted
is never missed. Handling is idempotent: the live order's status, not the event, decides.

Limits: emulation state lives in memory only (after a restart the exit orders already working stay
at the venue, but are no longer linked); both exits of a bracket can fill within the same bar on
the paper venue, because the cancel of the other exit follows the first fill's publication."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from tradeforge.domain.commands import AmendOrder
from tradeforge.domain.errors import TradeForgeError, ValidationError
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order, OrderStatus, OrderType
from tradeforge.domain.values import ZERO
from tradeforge.strategies.context import StrategyContext

logger = logging.getLogger(__name__)
HUNDRED = Decimal(100)


@dataclass(slots=True)
class Bracket:
    id: str
    instrument: Instrument
    side: OrderSide
    quantity: Decimal
    stop_loss: Decimal
    take_profit: Decimal
    entry: str
    take_profit_order: str | None = None
    stop_loss_order: str | None = None
    exits_placed: bool = False
    done: bool = False


@dataclass(slots=True)
class TrailingStop:
    id: str
    instrument: Instrument
    side: OrderSide
    quantity: Decimal
    amount: Decimal | None
    percent: Decimal | None
    best: Decimal
    stop_price: Decimal
    order: str
    moves: int = 0
    done: bool = False


class OrderEmulator:
    """Bracket/OCO and trailing-stop emulation for one strategy context."""

    def __init__(self, ctx: StrategyContext) -> None:
        self._ctx = ctx
        self._entries: dict[str, Bracket] = {}
        self._exits: dict[str, Bracket] = {}
        self._trailing: dict[str, TrailingStop] = {}  # by current order's client id
        self._brackets: dict[str, Bracket] = {}
        self._stops: dict[str, TrailingStop] = {}
        self._own_cancels: set[str] = set()

    # --- creation ------------------------------------------------------------------------------
    def add_bracket(
        self,
        instrument: Instrument,
        side: OrderSide,
        quantity: Decimal,
        stop_loss: Decimal,
        take_profit: Decimal,
        entry_price: Decimal | None,
    ) -> str:
        below, above = (stop_loss, take_profit) if side is OrderSide.BUY else (take_profit, stop_loss)
        if not below < above:
            raise ValidationError("stop_loss", f"{side.value} bracket: stop loss must be on the losing side")
        cid = self._ctx.next_client_order_id()
        bracket = Bracket(cid, instrument, side, quantity, stop_loss, take_profit, cid)
        self._entries[cid] = self._brackets[cid] = bracket
        kind = OrderType.MARKET if entry_price is None else OrderType.LIMIT
        try:
            self._ctx.submit_live(
                instrument.symbol, side, kind, quantity, price=entry_price, client_order_id=cid
            )
        except Exception:
            del self._entries[cid], self._brackets[cid]
            raise
        return cid

    def add_trailing_stop(
        self,
        instrument: Instrument,
        side: OrderSide,
        quantity: Decimal,
        amount: Decimal | None,
        percent: Decimal | None,
    ) -> str:
        reference = self._ctx.last_price(instrument.symbol)
        if reference is None:
            raise ValidationError("symbol", f"no price for {instrument.symbol} yet to trail from")
        cid = self._ctx.next_client_order_id()
        trailing = TrailingStop(cid, instrument, side, quantity, amount, percent, reference, ZERO, cid)
        trailing.stop_price = self._stop_for(trailing, reference)
        self._trailing[cid] = self._stops[cid] = trailing
        try:
            self._ctx.submit_live(
                instrument.symbol,
                side,
                OrderType.STOP,
                quantity,
                stop_price=trailing.stop_price,
                client_order_id=cid,
            )
        except Exception:
            del self._trailing[cid], self._stops[cid]
            raise
        return cid

    # --- views ---------------------------------------------------------------------------------
    def bracket(self, bracket_id: str) -> Bracket | None:
        return self._brackets.get(bracket_id)

    def trailing_stop(self, trailing_id: str) -> TrailingStop | None:
        return self._stops.get(trailing_id)

    def clear(self) -> None:
        """Forget every emulation (the strategy stopped or failed and its orders were cancelled)."""
        for bracket in self._brackets.values():
            bracket.done = True
        for trailing in self._stops.values():
            trailing.done = True
        self._entries.clear()
        self._exits.clear()
        self._trailing.clear()

    # --- driving -------------------------------------------------------------------------------
    @property
    def tracks_orders(self) -> bool:
        """Whether on_order has anything to follow (a bracket or a trailing stop in flight)."""
        return bool(self._entries or self._exits or self._trailing)

    def on_order(self, order: Order) -> None:
        """Called for every event of one of the strategy's orders, with the live order."""
        cid = order.client_order_id
        if cid in self._entries:
            self._on_entry(self._entries[cid], order)
        elif cid in self._exits:
            self._on_exit(self._exits[cid], order)
        elif cid in self._trailing:
            self._on_trailing_order(self._trailing[cid], order)

    @property
    def watches_bars(self) -> bool:
        """Whether on_bar has anything to do (a trailing stop to move)."""
        return bool(self._trailing)

    def on_bar(self, symbol: str, close: Decimal) -> None:
        for trailing in [t for t in self._trailing.values() if t.instrument.symbol == symbol]:
            if trailing.done:
                continue
            selling = trailing.side is OrderSide.SELL
            if not (close > trailing.best if selling else close < trailing.best):
                continue
            trailing.best = close
            candidate = self._stop_for(trailing, close)
            if candidate > trailing.stop_price if selling else candidate < trailing.stop_price:
                self._move(trailing, candidate)

    # --- brackets ------------------------------------------------------------------------------
    def _on_entry(self, bracket: Bracket, entry: Order) -> None:
        if bracket.exits_placed or bracket.done or entry.is_working:
            return
        del self._entries[bracket.entry]
        if entry.filled_quantity == ZERO:
            bracket.done = True
            return
        bracket.exits_placed = True
        symbol, exit_side, quantity = bracket.instrument.symbol, bracket.side.opposite, entry.filled_quantity
        take = self._ctx.next_client_order_id()
        stop = self._ctx.next_client_order_id()
        bracket.take_profit_order, bracket.stop_loss_order = take, stop
        self._exits[take] = self._exits[stop] = bracket
        self._ctx.submit_live(
            symbol, exit_side, OrderType.LIMIT, quantity, price=bracket.take_profit, client_order_id=take
        )
        self._ctx.submit_live(
            symbol, exit_side, OrderType.STOP, quantity, stop_price=bracket.stop_loss, client_order_id=stop
        )

    def _on_exit(self, bracket: Bracket, order: Order) -> None:
        if bracket.done:
            return
        is_take = order.client_order_id == bracket.take_profit_order
        other = self._live(bracket.stop_loss_order if is_take else bracket.take_profit_order)
        if order.status is OrderStatus.PARTIALLY_FILLED:
            # Keep the pair covering exactly what is still open.
            amendable = other is not None and other.is_working and other.status is not OrderStatus.PENDING
            if amendable and other is not None and other.filled_quantity < order.remaining != other.quantity:
                self._try(AmendOrder(self._ctx.account_id, other.id, quantity=order.remaining))
            return
        if order.is_working:
            return
        if order.client_order_id in self._own_cancels:
            return
        # Filled: OCO. Cancelled, expired or rejected from outside: the pair goes with it.
        bracket.done = True
        for cid in (bracket.take_profit_order, bracket.stop_loss_order):
            self._exits.pop(cid or "", None)
        if other is not None and other.is_working:
            self._cancel(other)

    # --- trailing stops ------------------------------------------------------------------------
    def _on_trailing_order(self, trailing: TrailingStop, order: Order) -> None:
        if order.is_working or order.client_order_id in self._own_cancels:
            return
        trailing.done = True
        self._trailing.pop(order.client_order_id, None)

    def _move(self, trailing: TrailingStop, stop_price: Decimal) -> None:
        current = self._live(trailing.order)
        if current is None or not current.is_working:
            return
        remaining = current.remaining
        if not self._cancel(current):
            return
        cid = self._ctx.next_client_order_id()
        del self._trailing[trailing.order]
        trailing.order, trailing.stop_price = cid, stop_price
        trailing.moves += 1
        self._trailing[cid] = trailing
        self._ctx.submit_live(
            trailing.instrument.symbol,
            trailing.side,
            OrderType.STOP,
            remaining,
            stop_price=stop_price,
            client_order_id=cid,
        )

    @staticmethod
    def _stop_for(trailing: TrailingStop, best: Decimal) -> Decimal:
        tick = trailing.instrument.tick_size
        sign = -1 if trailing.side is OrderSide.SELL else 1
        if trailing.amount is not None:
            raw = best + sign * trailing.amount
        else:
            assert trailing.percent is not None
            raw = best * (1 + sign * trailing.percent / HUNDRED)
        # Round away from the market, so the trail is never tighter than asked.
        rounding = ROUND_FLOOR if sign < 0 else ROUND_CEILING
        return (raw / tick).to_integral_value(rounding=rounding) * tick

    # --- helpers -------------------------------------------------------------------------------
    def _live(self, client_order_id: str | None) -> Order | None:
        if client_order_id is None:
            return None
        return self._ctx.live_order_by_client_id(client_order_id)

    def _cancel(self, order: Order) -> bool:
        self._own_cancels.add(order.client_order_id)
        try:
            self._ctx.cancel(order.id)
        except TradeForgeError as error:
            logger.info("strategy %s: could not cancel %s: %s", self._ctx.strategy_id, order.id, error)
            return False
        return True

    def _try(self, command: AmendOrder) -> None:
        try:
            self._ctx.send(command)
        except TradeForgeError as error:
            logger.info("strategy %s: amend refused: %s", self._ctx.strategy_id, error)
