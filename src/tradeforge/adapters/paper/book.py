"""The paper venue's books: each symbol's market state and queues, and its record of each working order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from tradeforge.domain.copies import Reduction, reduce_fields
from tradeforge.domain.data import Bar
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import OrderType, TimeInForce
from tradeforge.domain.values import ZERO

Queue = dict[str, "WorkingOrder"]


@dataclass(slots=True, eq=False)
class SymbolBook:
    """One symbol's market state and working orders; each queue keeps time priority by insertion."""

    instrument: Instrument
    bar: Bar | None = None
    # Where the current bar comes from when the driver skips on_bar for bars with nothing to match
    # (a backtest converts its float bars lazily); None when every bar arrives through on_bar.
    source: Callable[[], Bar | None] | None = None
    # The lazy source's current close alone: all a new order meets in a backtest (it waits for the
    # next open), so the Decimal bar is built only for bars that match something.
    close_source: Callable[[], Decimal | None] | None = None
    budget: Decimal = ZERO  # volume of `bar` still available to fills
    at_open: Queue = field(default_factory=dict)  # market orders (and backtest arrivals) awaiting an open
    stops: Queue = field(default_factory=dict)  # untriggered stop and stop-limit orders
    limits: Queue = field(default_factory=dict)  # resting limits, triggered stop-limits included


@dataclass(slots=True, eq=False)
class WorkingOrder:
    """The venue's own record of an order it holds; the OMS's Order objects are never touched."""

    order_id: str
    client_order_id: str
    account_id: str
    strategy_id: str | None
    venue_order_id: str
    book: SymbolBook
    side: OrderSide
    type: OrderType
    tif: TimeInForce
    quantity: Decimal
    filled: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    expire_at: int | None
    triggered: bool = False
    ref_price: Decimal | None = None  # buys: the unit price the quote reservation is sized on
    reserved: Decimal = ZERO  # amount of reserve_asset locked for this order
    queue: Queue | None = None

    def __init__(
        self,
        order_id: str,
        client_order_id: str,
        account_id: str,
        strategy_id: str | None,
        venue_order_id: str,
        book: SymbolBook,
        side: OrderSide,
        type: OrderType,
        tif: TimeInForce,
        quantity: Decimal,
        filled: Decimal,
        price: Decimal | None,
        stop_price: Decimal | None,
        expire_at: int | None,
        triggered: bool = False,
        ref_price: Decimal | None = None,
        reserved: Decimal = ZERO,
        queue: Queue | None = None,
    ) -> None:
        # Written out: compiled, an explicit __init__ is native code and the dataclass one is not
        # (ADR 7; one per order). The fields above stay the record's declaration.
        self.order_id = order_id
        self.client_order_id = client_order_id
        self.account_id = account_id
        self.strategy_id = strategy_id
        self.venue_order_id = venue_order_id
        self.book = book
        self.side = side
        self.type = type
        self.tif = tif
        self.quantity = quantity
        self.filled = filled
        self.price = price
        self.stop_price = stop_price
        self.expire_at = expire_at
        self.triggered = triggered
        self.ref_price = ref_price
        self.reserved = reserved
        self.queue = queue

    def __reduce__(self) -> Reduction:
        return reduce_fields(self)

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    @property
    def reserve_asset(self) -> str:
        instrument = self.book.instrument
        return instrument.quote if self.side is OrderSide.BUY else instrument.base
