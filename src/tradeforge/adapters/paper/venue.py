"""The paper venue: a simulated exchange behind the Venue port, shared by paper trading and backtests."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from tradeforge.adapters.paper.accounts import AccountBook
from tradeforge.adapters.paper.book import SymbolBook, WorkingOrder
from tradeforge.adapters.paper.matching import MatchingEngine
from tradeforge.adapters.paper.slippage import NoSlippage, SlippageModel
from tradeforge.domain.balances import Balance
from tradeforge.domain.data import Bar, Tick
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderEvent,
    OrderRejected,
)
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order, OrderStatus, OrderType, TimeInForce
from tradeforge.domain.values import ONE, ZERO, decimal_str
from tradeforge.ports.clock import Clock
from tradeforge.ports.venue import VenueReportSink, VenueRequestRefused

_PRICED = (OrderType.LIMIT, OrderType.STOP_LIMIT)
_STOPPED = (OrderType.STOP, OrderType.STOP_LIMIT)
_IMMEDIATE = (TimeInForce.IOC, TimeInForce.FOK)


@dataclass(frozen=True, slots=True)
class PaperVenueConfig:
    """How the simulated venue fills. See docs/paper-exchange.md for every rule.

    fill_market_on_submit: True (live paper) fills market and marketable limit orders at once against
        the last bar's close; False (backtest) lets every new order wait for the next bar's open.
    limit_fill_on_touch: a resting limit also fills when the bar only touches its price.
    max_volume_share: share of each bar's volume that all fills in that bar may take together; None
        lets fills take any size (the rule of most backtesters).
    market_reservation_buffer: headroom over the last (or stop) price when reserving for market buys.
    slippage: price model for taker fills."""

    fill_market_on_submit: bool = True
    limit_fill_on_touch: bool = False
    max_volume_share: Decimal | None = ONE
    market_reservation_buffer: Decimal = Decimal("0.05")
    slippage: SlippageModel = field(default_factory=NoSlippage)

    def __post_init__(self) -> None:
        if self.max_volume_share is not None and not ZERO < self.max_volume_share <= ONE:
            raise ValueError("max_volume_share must be in (0, 1]")
        if self.market_reservation_buffer < ZERO:
            raise ValueError("market_reservation_buffer must not be negative")


class PaperVenue:
    """A single-threaded, synchronous simulated exchange. It never changes the Order objects it is
    given; it keeps its own record per order and reports every change as a domain event.

    Events are queued and delivered after the call that caused them has finished updating state, so a
    sink that reacts by calling back in (a strategy submitting on a fill) always sees a consistent
    venue; its own events follow, in order, in the same delivery loop."""

    def __init__(
        self,
        instruments: Iterable[Instrument],
        clock: Clock,
        config: PaperVenueConfig | None = None,
        balances: Mapping[str, Mapping[str, Decimal]] | None = None,
        *,
        name: str = "paper",
    ) -> None:
        self.name = name
        self.config = config if config is not None else PaperVenueConfig()
        self._clock = clock
        self._instruments = list(instruments)
        self._accounts = AccountBook(balances)
        self._events: deque[OrderEvent] = deque()
        self._sink: VenueReportSink | None = None
        self._flushing = False
        self._next_venue_id = 1
        self._live = self.config.fill_market_on_submit
        self._engine = MatchingEngine(
            name,
            {instrument.symbol: SymbolBook(instrument) for instrument in self._instruments},
            self._accounts,
            self._events.append,
            live=self._live,
            fill_on_touch=self.config.limit_fill_on_touch,
            volume_share=self.config.max_volume_share,
            reservation_buffer=self.config.market_reservation_buffer,
            slippage=self.config.slippage,
        )

    # -- Venue port ---------------------------------------------------------------------------------

    def bind(self, sink: VenueReportSink) -> None:
        self._sink = sink
        self._flush()

    def instruments(self) -> list[Instrument]:
        return list(self._instruments)

    def submit(self, order: Order) -> None:
        if order.id in self._engine.orders:
            return  # a resend of an order this venue already holds changes nothing
        self._submit(order, self._clock.now_ms())
        self._flush()

    def cancel(self, order: Order) -> None:
        record = self._engine.orders.get(order.id)
        if record is None:
            raise VenueRequestRefused(f"order {order.id} is not working on venue {self.name}")
        now = self._clock.now_ms()
        self._engine.finish(record, OrderCancelled(now, order.id, "cancelled"), now)
        self._flush()

    def amend(self, order: Order, quantity: Decimal, price: Decimal | None) -> None:
        engine = self._engine
        record = engine.orders.get(order.id)
        if record is None:
            raise VenueRequestRefused(f"order {order.id} is not working on venue {self.name}")
        engine.sync(record.book)
        instrument = record.book.instrument
        if quantity <= record.filled:
            raise VenueRequestRefused(f"quantity must be above the filled quantity {record.filled}")
        if price is not None and record.type not in _PRICED:
            raise VenueRequestRefused(f"a {record.type.value} order has no limit price to amend")
        new_price = price if price is not None else record.price
        try:
            instrument.check_quantity(quantity)
            if price is not None:
                instrument.check_price(price)
            reference = new_price if new_price is not None else record.stop_price
            if reference is not None:
                instrument.check_notional(quantity, reference)
        except ValidationError as error:
            raise VenueRequestRefused(str(error)) from None
        now = self._clock.now_ms()
        # A new price or a larger size loses time priority, as on exchanges; a smaller size keeps it.
        lost_priority = new_price != record.price or quantity > record.quantity
        self._resize(record, quantity, new_price, now)
        if lost_priority:
            engine.requeue(record)
        self._events.append(OrderAmended(now, order.id, quantity, new_price, record.stop_price))
        engine.retake(record, now)
        self._flush()

    def balances(self, account_id: str) -> list[Balance]:
        return self._accounts.snapshot(account_id)

    def restore(self, working_orders: list[Order], balances: list[Balance]) -> None:
        """Rebuild after a restart: totals come from `balances`, locks are recomputed from the
        reservations of `working_orders` (never beyond what is free). Pending orders are submitted
        as new; orders for unknown instruments are cancelled."""
        engine = self._engine
        now = self._clock.now_ms()
        for record in list(engine.orders.values()):
            engine.release(record, now)
            engine.drop(record)
        totals: dict[str, dict[str, Decimal]] = {}
        for balance in balances:
            totals.setdefault(balance.account_id, {})[balance.asset] = balance.total
        for account_id, assets in totals.items():
            self._accounts.replace(account_id, assets, now)
        for order in sorted(working_orders, key=lambda item: item.created_at):
            if order.status is OrderStatus.PENDING:
                if order.id not in engine.orders:
                    self._submit(order, now)
            elif order.is_working and order.id not in engine.orders:
                self._restore_one(order, now)
        engine.expire_due(now)
        self._flush()

    # -- market data --------------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """Match working orders against a new bar, then make it the symbol's last known market."""
        self._engine.on_bar(bar, self._clock.now_ms())
        self._flush()

    def on_tick(self, tick: Tick) -> None:
        """Match against a trade print, as a bar running from the previous print to this one with
        the print's size as volume. Every bar rule then applies unchanged, and a print beyond a
        resting limit fills it at the limit (the maker's price), as a continuous market would.
        Orders waiting for an open (market orders sent since the last print) execute at this
        print's price, not at the previous one they were sent after."""
        price = tick.price
        previous = self.last_price(tick.symbol) or price
        low, high = min(previous, price), max(previous, price)
        bar = Bar(tick.symbol, "tick", tick.ts, previous, high, low, price, tick.size)
        self._engine.on_bar(bar, self._clock.now_ms(), open_price=price)
        self._flush()

    def on_time(self, now_ms: int) -> None:
        """Expire GTD orders whose time has come even when no bar arrives."""
        self._engine.expire_due(now_ms)
        self._flush()

    def last_price(self, symbol: str) -> Decimal | None:
        book = self._engine.books.get(symbol)
        if book is None:
            return None
        self._engine.sync(book)
        return None if book.bar is None else book.bar.close

    def bar_from(
        self,
        symbol: str,
        source: Callable[[], Bar | None],
        close: Callable[[], Decimal | None] | None = None,
    ) -> None:
        """Let a driver that calls on_bar only when has_work(symbol) supply the current bar on
        demand (backtests: a new order meets the current bar's close as if every bar had come);
        `close`, if given, is that bar's close alone (the same value, cheaper than the bar)."""
        book = self._engine.books.get(symbol)
        if book is None:
            raise ValidationError("symbol", f"unknown instrument {symbol} on venue {self.name}")
        book.source = source
        book.close_source = close

    def has_work(self, symbol: str) -> bool:
        return self._engine.has_work(symbol)

    def order_queues(self, symbol: str) -> tuple[Mapping[str, object], ...]:
        """The symbol's live queues of working orders (awaiting an open, stops, limits). A bar can
        change something here only while one is non-empty: a driver that skips on_bar otherwise
        (the backtester) tests them directly, the cheapest check there is."""
        book = self._engine.books.get(symbol)
        if book is None:
            raise ValidationError("symbol", f"unknown instrument {symbol} on venue {self.name}")
        return (book.at_open, book.stops, book.limits)

    # -- internals ----------------------------------------------------------------------------------

    def _submit(self, order: Order, now: int) -> None:
        engine = self._engine
        book = engine.books.get(order.symbol)
        close = None if book is None else engine.last_close(book)
        reason = self._refusal(order, book, close, now)
        if reason is not None:
            self._events.append(OrderRejected(now, order.id, reason))
            return
        assert book is not None
        record = self._record(order, book, "", order.filled_quantity)
        if record.side is OrderSide.BUY:
            record.ref_price = engine.reference_price(record, close)
        need = engine.required(record)
        asset = record.reserve_asset
        free = self._accounts.free(order.account_id, asset)
        if need > free:
            self._events.append(OrderRejected(now, order.id, _insufficient(asset, need, free)))
            return
        self._accounts.lock(order.account_id, asset, need, now)
        record.reserved = need
        record.venue_order_id = self._new_venue_id()
        self._events.append(OrderAccepted(now, order.id, record.venue_order_id))
        engine.arrive(record, now)

    def _refusal(self, order: Order, book: SymbolBook | None, close: Decimal | None, now: int) -> str | None:
        """Why the venue refuses a new order (the symbol's current close given), or None."""
        if book is None:
            return f"unknown instrument {order.symbol} on venue {self.name}"
        instrument = book.instrument
        kind = order.type
        try:
            instrument.check_quantity(order.quantity)
            if kind in _PRICED:
                if order.price is None:
                    return f"a {kind.value} order needs a price"
                instrument.check_price(order.price)
            if kind in _STOPPED:
                if order.stop_price is None:
                    return f"a {kind.value} order needs a stop_price"
                instrument.check_price(order.stop_price, "stop_price")
            reference = order.price if kind in _PRICED else order.stop_price
            if reference is None:
                reference = close
            if reference is not None:
                instrument.check_notional(order.quantity, reference)
        except ValidationError as error:
            return str(error)
        tif = order.time_in_force
        if tif is TimeInForce.GTD:
            if order.expire_at is None:
                return "a GTD order needs expire_at"
            if order.expire_at <= now:
                return f"expire_at {order.expire_at} is not in the future"
        elif self._live and tif in _IMMEDIATE and kind not in _STOPPED and close is None:
            return f"no market data for {order.symbol}"
        if (order.account_id, order.client_order_id) in self._engine.client_ids:
            return f"duplicate client_order_id {order.client_order_id}"
        return None

    def _record(self, order: Order, book: SymbolBook, venue_order_id: str, filled: Decimal) -> WorkingOrder:
        return WorkingOrder(
            order_id=order.id,
            client_order_id=order.client_order_id,
            account_id=order.account_id,
            strategy_id=order.strategy_id,
            venue_order_id=venue_order_id,
            book=book,
            side=order.side,
            type=order.type,
            tif=order.time_in_force,
            quantity=order.quantity,
            filled=filled,
            price=order.price,
            stop_price=order.stop_price,
            expire_at=order.expire_at if order.time_in_force is TimeInForce.GTD else None,
            triggered=order.triggered,
        )

    def _restore_one(self, order: Order, now: int) -> None:
        engine = self._engine
        book = engine.books.get(order.symbol)
        if book is None:
            self._events.append(OrderCancelled(now, order.id, f"unknown instrument {order.symbol}"))
            return
        venue_order_id = order.venue_order_id or self._new_venue_id()
        if venue_order_id.startswith("P") and venue_order_id[1:].isdigit():
            self._next_venue_id = max(self._next_venue_id, int(venue_order_id[1:]) + 1)
        record = self._record(order, book, venue_order_id, order.filled_quantity)
        if record.side is OrderSide.BUY:
            record.ref_price = engine.reference_price(record, engine.last_close(book))
        asset = record.reserve_asset
        need = engine.required(record)
        free = self._accounts.free(order.account_id, asset)
        record.reserved = need if need <= free else free
        self._accounts.lock(order.account_id, asset, record.reserved, now)
        engine.register(record)
        kind = record.type
        if record.tif in _IMMEDIATE and kind not in _STOPPED:
            queue = book.at_open  # still in flight: IOC/FOK are decided at the next open
        elif kind is OrderType.MARKET or (kind is OrderType.STOP and record.triggered):
            queue = book.at_open
        elif kind is OrderType.LIMIT or (kind is OrderType.STOP_LIMIT and record.triggered):
            queue = book.limits
        else:
            queue = book.stops
        engine.place(record, queue)

    def _resize(self, record: WorkingOrder, quantity: Decimal, price: Decimal | None, now: int) -> None:
        """Apply an amend's quantity and price and resize the order's lock, or refuse the amend."""
        engine = self._engine
        old = (record.quantity, record.price, record.ref_price)
        record.quantity = quantity
        record.price = price
        if record.side is OrderSide.BUY and record.type in _PRICED:
            record.ref_price = price
        need = engine.required(record)
        asset = record.reserve_asset
        delta = need - record.reserved
        if delta > ZERO:
            free = self._accounts.free(record.account_id, asset)
            if delta > free:
                record.quantity, record.price, record.ref_price = old
                raise VenueRequestRefused(_insufficient(asset, need, free + record.reserved))
            self._accounts.lock(record.account_id, asset, delta, now)
        elif delta < ZERO:
            self._accounts.unlock(record.account_id, asset, -delta, now)
        record.reserved = need

    def _new_venue_id(self) -> str:
        venue_order_id = f"P{self._next_venue_id}"
        self._next_venue_id += 1
        return venue_order_id

    def _flush(self) -> None:
        if self._flushing or self._sink is None:
            return
        self._flushing = True
        try:
            events = self._events
            sink = self._sink
            while events:
                sink(events.popleft())
        finally:
            self._flushing = False


def _insufficient(asset: str, needed: Decimal, free: Decimal) -> str:
    return f"insufficient {asset} balance: needed {decimal_str(needed)}, free {decimal_str(free)}"
