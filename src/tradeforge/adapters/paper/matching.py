"""Paper matching engine: per-symbol books of working orders and the rules that fill them on bars.

Every rule here is described, with its reasons, in docs/paper-exchange.md."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal

from tradeforge.adapters.paper.accounts import AccountBook
from tradeforge.adapters.paper.book import Queue, SymbolBook, WorkingOrder
from tradeforge.adapters.paper.slippage import SlippageModel, round_against
from tradeforge.domain.balances import fill_cash_flows
from tradeforge.domain.data import Bar
from tradeforge.domain.events import (
    OrderCancelled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderTriggered,
)
from tradeforge.domain.fills import Fill, Liquidity, OrderSide
from tradeforge.domain.identifiers import IdGenerator
from tradeforge.domain.orders import OrderType, TimeInForce
from tradeforge.domain.values import ONE, ZERO

_BUY = OrderSide.BUY
_MARKET = OrderType.MARKET
_LIMIT = OrderType.LIMIT
_STOP = OrderType.STOP
_STOP_LIMIT = OrderType.STOP_LIMIT
_IOC = TimeInForce.IOC
_FOK = TimeInForce.FOK
_GTD = TimeInForce.GTD

# A bar's fill budget when fills are not bounded by its volume (backtests that match peers' rules).
_UNBOUNDED = Decimal("Infinity")


def marketable(side: OrderSide, limit: Decimal, price: Decimal) -> bool:
    """Whether a limit order can trade at `price` right now."""
    return price <= limit if side is _BUY else price >= limit


def stop_reached(side: OrderSide, stop: Decimal, price: Decimal) -> bool:
    return price >= stop if side is _BUY else price <= stop


def stop_trigger_price(side: OrderSide, stop: Decimal, bar: Bar) -> Decimal | None:
    """The first price at which the bar reaches the stop (the open when it gaps through), or None."""
    if side is _BUY:
        return (bar.open if bar.open > stop else stop) if bar.high >= stop else None
    return (bar.open if bar.open < stop else stop) if bar.low <= stop else None


def resting_fill_price(side: OrderSide, limit: Decimal, bar: Bar, on_touch: bool) -> Decimal | None:
    """A resting limit fills at the open when the bar gaps through it, else at the limit when the bar
    trades through it (or merely touches it, if configured); None when the bar never reaches it."""
    if side is _BUY:
        if bar.open < limit or (on_touch and bar.open == limit):
            return bar.open
        return limit if bar.low < limit or (on_touch and bar.low == limit) else None
    if bar.open > limit or (on_touch and bar.open == limit):
        return bar.open
    return limit if bar.high > limit or (on_touch and bar.high == limit) else None


def floor_to_lot(value: Decimal, lot: Decimal) -> Decimal:
    if value <= ZERO:
        return ZERO
    whole = (value / lot).to_integral_value(rounding=ROUND_DOWN) * lot
    # The division rounds at the context precision; never end up above value.
    return whole - lot if whole > value else whole


class MatchingEngine:
    """Holds the working orders, sizes and books their fills and reports every change through emit."""

    def __init__(
        self,
        venue: str,
        books: dict[str, SymbolBook],
        accounts: AccountBook,
        emit: Callable[[OrderEvent], None],
        *,
        live: bool,
        fill_on_touch: bool,
        volume_share: Decimal | None,
        reservation_buffer: Decimal,
        slippage: SlippageModel,
    ) -> None:
        self.venue = venue
        self.books = books
        self.accounts = accounts
        self.orders: dict[str, WorkingOrder] = {}
        self.client_ids: dict[tuple[str, str], str] = {}
        self._emit = emit
        self._live = live
        self._on_touch = fill_on_touch
        self._volume_share = volume_share
        self._buffer_factor = ONE + reservation_buffer
        self._slippage = slippage
        self._expiries: list[tuple[int, str]] = []
        self._fill_ids = IdGenerator("T")

    # -- reservations -------------------------------------------------------------------------------

    def reference_price(self, order: WorkingOrder, close: Decimal | None) -> Decimal | None:
        """The unit price a buy's quote reservation is sized on (None: no price known yet), given
        the symbol's current close (last_close)."""
        kind = order.type
        if kind is _LIMIT or kind is _STOP_LIMIT:
            return order.price
        if kind is _STOP and not order.triggered and order.stop_price is not None:
            return order.stop_price * self._buffer_factor
        return None if close is None else close * self._buffer_factor

    def required(self, order: WorkingOrder) -> Decimal:
        """What the order's remaining quantity needs locked: base for sells, quote plus fee for buys."""
        if order.side is not _BUY:
            return order.remaining
        if order.ref_price is None:
            return ZERO
        instrument = order.book.instrument
        rate = max(instrument.taker_fee, instrument.maker_fee)
        return order.remaining * order.ref_price * (ONE + rate)

    def release(self, order: WorkingOrder, ts: int) -> None:
        if order.reserved:
            self.accounts.unlock(order.account_id, order.reserve_asset, order.reserved, ts)
            order.reserved = ZERO

    # -- arrival ------------------------------------------------------------------------------------

    def register(self, order: WorkingOrder) -> None:
        self.orders[order.order_id] = order
        self.client_ids[(order.account_id, order.client_order_id)] = order.order_id
        if order.tif is _GTD and order.expire_at is not None:
            heapq.heappush(self._expiries, (order.expire_at, order.order_id))

    def arrive(self, order: WorkingOrder, now: int) -> None:
        """An accepted new order: in live mode it meets the last known price now; in backtest mode it
        waits for the next bar's open."""
        self.register(order)
        book = order.book
        if not self._live:
            self.place(order, book.at_open)
            return
        bar = book.bar
        kind = order.type
        if bar is None:
            # IOC/FOK market and limit orders were refused before acceptance ("no market data").
            self.place(
                order, book.at_open if kind is _MARKET else book.limits if kind is _LIMIT else book.stops
            )
            return
        close = bar.close
        if kind is _MARKET:
            self._take(order, close, None, book.at_open, now)
        elif kind is _LIMIT:
            self._offer(order, close, now)
        elif order.stop_price is not None and stop_reached(order.side, order.stop_price, close):
            self._trigger(order, close, now)
        else:
            self.place(order, book.stops)

    def retake(self, order: WorkingOrder, now: int) -> None:
        """After an amend in live mode: a resting limit that became marketable fills as on arrival."""
        bar = order.book.bar
        if (
            self._live
            and bar is not None
            and order.queue is order.book.limits
            and order.price is not None
            and marketable(order.side, order.price, bar.close)
        ):
            self._take(order, bar.close, order.price, order.book.limits, now)

    # -- bars and time ------------------------------------------------------------------------------

    def on_bar(self, bar: Bar, now: int, open_price: Decimal | None = None) -> None:
        """open_price: where orders waiting for an open execute, when not at bar.open (a print
        matched as a bar from the previous print: orders sent before it execute at its price)."""
        self.expire_due(now)
        book = self.books.get(bar.symbol)
        if book is None:
            return
        self.set_bar(book, bar)
        if book.at_open:
            self._match_open(book, bar.open if open_price is None else open_price, now)
        resting = list(book.limits.values()) if book.limits else None
        if book.stops:
            self._match_stops(book, bar, now)
        if resting:
            self._match_limits(book, bar, resting, now)

    def set_bar(self, book: SymbolBook, bar: Bar) -> None:
        book.bar = bar
        share = self._volume_share
        book.budget = _UNBOUNDED if share is None else bar.volume * share

    def sync(self, book: SymbolBook) -> None:
        """Catch up with a lazy source's current bar, as if on_bar had seen it with nothing to match."""
        source = book.source
        if source is not None:
            bar = source()
            if bar is not None and bar is not book.bar:
                self.set_bar(book, bar)

    def last_close(self, book: SymbolBook) -> Decimal | None:
        """The symbol's current close, caught up with a lazy source (see SymbolBook.close_source)."""
        closes = book.close_source
        if closes is not None and not self._live:
            return closes()
        self.sync(book)
        return None if book.bar is None else book.bar.close

    def has_work(self, symbol: str) -> bool:
        """Whether a bar of `symbol` could change anything here (working orders or due expiries)."""
        book = self.books.get(symbol)
        return book is not None and bool(book.at_open or book.stops or book.limits or self._expiries)

    def expire_due(self, now: int) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            expire_at, order_id = heapq.heappop(expiries)
            order = self.orders.get(order_id)
            if order is not None and order.expire_at == expire_at:
                self.finish(order, OrderExpired(now, order_id), now)

    def _match_open(self, book: SymbolBook, open_price: Decimal, now: int) -> None:
        """Market orders (and, in backtest mode, new arrivals) meet the bar's open first."""
        queue = book.at_open
        for order in list(queue.values()):
            if order.queue is not queue:
                continue
            kind = order.type
            if kind is _MARKET or (kind is _STOP and order.triggered):
                self._take(order, open_price, None, queue, now)
            elif kind is _LIMIT:
                self._offer(order, open_price, now)
            else:
                self.place(order, book.stops)

    def _match_stops(self, book: SymbolBook, bar: Bar, now: int) -> None:
        """Stops before limits, in time priority: the pessimistic choice when a bar's path is unknown."""
        queue = book.stops
        for order in list(queue.values()):
            if order.queue is not queue or order.stop_price is None:
                continue
            price = stop_trigger_price(order.side, order.stop_price, bar)
            if price is not None:
                self._trigger(order, price, now)

    def _match_limits(self, book: SymbolBook, bar: Bar, resting: list[WorkingOrder], now: int) -> None:
        queue = book.limits
        on_touch = self._on_touch
        for order in resting:
            if book.budget <= ZERO:
                break
            if order.queue is not queue or order.price is None:
                continue
            price = resting_fill_price(order.side, order.price, bar, on_touch)
            if price is None:
                continue
            quantity, price, short = self._size(order, price, None, taker=False)
            if quantity > ZERO:
                self._fill(order, quantity, price, Liquidity.MAKER, now)
            if short and order.filled < order.quantity:
                self._cancel_short(order, now)

    # -- execution ----------------------------------------------------------------------------------

    def _trigger(self, order: WorkingOrder, price: Decimal, now: int) -> None:
        order.triggered = True
        self._emit(OrderTriggered(now, order.order_id))
        if order.type is _STOP:
            self._take(order, price, None, order.book.at_open, now)
        else:
            self._offer(order, price, now)

    def _offer(self, order: WorkingOrder, price: Decimal, now: int) -> None:
        """A limit order meeting `price` on arrival (or on trigger): take if marketable, else rest."""
        limit = order.price
        assert limit is not None
        if marketable(order.side, limit, price):
            self._take(order, price, limit, order.book.limits, now)
        elif order.tif is _IOC or order.tif is _FOK:
            self.finish(
                order, OrderCancelled(now, order.order_id, f"{order.tif.value}: limit not marketable"), now
            )
        else:
            self.place(order, order.book.limits)

    def _take(self, order: WorkingOrder, base: Decimal, limit: Decimal | None, rest: Queue, now: int) -> None:
        """A taker fill at `base` plus slippage (never beyond `limit`), bounded by the bar's volume
        and the account's balance; IOC/FOK, balance and volume then decide what becomes of the rest."""
        quantity, price, short = self._size(order, base, limit, taker=True)
        tif = order.tif
        if tif is _FOK and quantity < order.remaining:
            self.finish(order, OrderCancelled(now, order.order_id, "FOK: could not fill completely"), now)
            return
        if quantity > ZERO:
            self._fill(order, quantity, price, Liquidity.TAKER, now)
            if order.filled == order.quantity:
                return
        if short:
            self._cancel_short(order, now)
        elif tif is _IOC:
            self.finish(order, OrderCancelled(now, order.order_id, "IOC: remainder cancelled"), now)
        else:
            self.place(order, rest)

    def _size(
        self, order: WorkingOrder, base: Decimal, limit: Decimal | None, *, taker: bool
    ) -> tuple[Decimal, Decimal, bool]:
        """(quantity, price, balance_short) of the fill the order can get now."""
        book = order.book
        instrument = book.instrument
        lot = instrument.lot_size
        quantity = order.remaining
        if book.budget < quantity:
            quantity = floor_to_lot(book.budget, lot)
            if quantity <= ZERO:
                return ZERO, base, False
        price = self._price(order, base, limit, quantity, taker)
        account = self.accounts
        side = order.side
        can = account.free(order.account_id, order.reserve_asset) + order.reserved
        if side is _BUY:
            unit = price * (ONE + (instrument.taker_fee if taker else instrument.maker_fee))
            if quantity * unit <= can:
                return quantity, price, False
            affordable = floor_to_lot(can / unit, lot) if unit > ZERO else quantity
            while affordable > ZERO and affordable * unit > can:
                affordable -= lot
            if affordable > ZERO and taker:
                # Less quantity, less impact: the price can only fall, so it stays affordable.
                price = self._price(order, base, limit, affordable, taker)
            return affordable, price, True
        if quantity <= can:
            return quantity, price, False
        return floor_to_lot(can, lot), price, True

    def _price(
        self, order: WorkingOrder, base: Decimal, limit: Decimal | None, quantity: Decimal, taker: bool
    ) -> Decimal:
        side = order.side
        book = order.book
        if taker and book.bar is not None:
            base = self._slippage.adjust(side, base, quantity, book.bar.volume)
        price = round_against(side, base, book.instrument.tick_size)
        if limit is not None and not marketable(side, limit, price):
            return limit
        return price

    def _fill(
        self, order: WorkingOrder, quantity: Decimal, price: Decimal, liquidity: Liquidity, now: int
    ) -> None:
        book = order.book
        instrument = book.instrument
        rate = instrument.taker_fee if liquidity is Liquidity.TAKER else instrument.maker_fee
        notional = quantity * price
        fill = Fill(
            self._fill_ids.next(),
            order.order_id,
            order.client_order_id,
            order.account_id,
            self.venue,
            instrument.symbol,
            order.side,
            quantity,
            price,
            notional * rate,
            instrument.quote,
            liquidity,
            now,
            order.strategy_id,
        )
        accounts = self.accounts
        asset = order.reserve_asset
        if order.reserved:
            accounts.unlock(order.account_id, asset, order.reserved, now)
            order.reserved = ZERO
        accounts.apply(order.account_id, fill_cash_flows(fill, instrument.base, instrument.quote), now)
        order.filled += quantity
        book.budget -= quantity
        self._emit(OrderFilled(now, order.order_id, fill))
        if order.filled == order.quantity:
            self.drop(order)
            return
        need = self.required(order)
        free = accounts.free(order.account_id, asset)
        order.reserved = need if need <= free else free
        accounts.lock(order.account_id, asset, order.reserved, now)

    def _cancel_short(self, order: WorkingOrder, now: int) -> None:
        asset = order.reserve_asset
        free = self.accounts.free(order.account_id, asset) + order.reserved
        reason = f"insufficient {asset} balance to fill the remaining {order.remaining} (free {free})"
        self.finish(order, OrderCancelled(now, order.order_id, reason), now)

    # -- bookkeeping --------------------------------------------------------------------------------

    def place(self, order: WorkingOrder, queue: Queue) -> None:
        """Move the order into `queue`, at the back; staying in the same queue keeps its priority."""
        current = order.queue
        if current is queue:
            return
        if current is not None:
            del current[order.order_id]
        queue[order.order_id] = order
        order.queue = queue

    def requeue(self, order: WorkingOrder) -> None:
        """Send the order to the back of its queue (it lost time priority)."""
        queue = order.queue
        if queue is not None:
            del queue[order.order_id]
            queue[order.order_id] = order

    def finish(self, order: WorkingOrder, event: OrderEvent, now: int) -> None:
        """End an order that did not fill completely: release its reservation and report why."""
        self.release(order, now)
        self.drop(order)
        self._emit(event)

    def drop(self, order: WorkingOrder) -> None:
        """Forget the order (its reservation must already be released or consumed)."""
        queue = order.queue
        if queue is not None:
            del queue[order.order_id]
            order.queue = None
        del self.orders[order.order_id]
        self.client_ids.pop((order.account_id, order.client_order_id), None)
