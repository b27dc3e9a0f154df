"""Test support for the paper venue: a settable clock and an OMS stand-in that applies every event."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from tradeforge.adapters.paper import PaperVenue, PaperVenueConfig
from tradeforge.domain.balances import Balance, fill_cash_flows
from tradeforge.domain.data import Bar
from tradeforge.domain.events import OrderEvent, OrderFilled
from tradeforge.domain.fills import Fill, OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order, OrderType, TimeInForce

D = Decimal
BUY = OrderSide.BUY
SELL = OrderSide.SELL
MARKET = OrderType.MARKET
LIMIT = OrderType.LIMIT
STOP = OrderType.STOP
STOP_LIMIT = OrderType.STOP_LIMIT
GTC = TimeInForce.GTC
IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
GTD = TimeInForce.GTD
MINUTE = 60_000
START = 1_700_000_000_000


class FakeClock:
    """A clock the test sets by hand."""

    def __init__(self, now: int = START) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now


def btc_usdt(maker: str = "0.001", taker: str = "0.002") -> Instrument:
    return Instrument.spot(
        "BTC/USDT", "paper", tick_size="0.01", lot_size="0.001", maker_fee=maker, taker_fee=taker
    )


class Harness:
    """Plays the OMS: creates orders, applies every venue event to its Order (the transition table
    raises on anything illegal) and records events and fills."""

    def __init__(
        self,
        config: PaperVenueConfig | None = None,
        balances: Mapping[str, Mapping[str, Decimal]] | None = None,
        instruments: list[Instrument] | None = None,
    ) -> None:
        self.clock = FakeClock()
        self.instruments = instruments if instruments is not None else [btc_usdt()]
        self.start = {
            account: dict(assets)
            for account, assets in (
                balances if balances is not None else {"acc": {"USDT": D("10000"), "BTC": D("10")}}
            ).items()
        }
        self.venue = PaperVenue(self.instruments, self.clock, config, self.start)
        self.orders: dict[str, Order] = {}
        self.events: list[OrderEvent] = []
        self.fills: list[Fill] = []
        self._ids = 0
        self.venue.bind(self.on_event)

    def on_event(self, event: OrderEvent) -> None:
        self.orders[event.order_id].apply(event)
        self.events.append(event)
        if isinstance(event, OrderFilled):
            self.fills.append(event.fill)

    def order(
        self,
        side: OrderSide,
        kind: OrderType,
        quantity: str | Decimal,
        price: str | Decimal | None = None,
        stop: str | Decimal | None = None,
        tif: TimeInForce = GTC,
        expire_at: int | None = None,
        symbol: str = "BTC/USDT",
        account: str = "acc",
    ) -> Order:
        self._ids += 1
        order = Order(
            id=f"O{self._ids}",
            client_order_id=f"c{self._ids}",
            account_id=account,
            venue="paper",
            symbol=symbol,
            side=side,
            type=kind,
            quantity=D(quantity),
            price=None if price is None else D(price),
            stop_price=None if stop is None else D(stop),
            time_in_force=tif,
            expire_at=expire_at,
            strategy_id=None,
            created_at=self.clock.now,
            updated_at=self.clock.now,
        )
        self.orders[order.id] = order
        return order

    def submit(
        self,
        side: OrderSide,
        kind: OrderType,
        quantity: str | Decimal,
        price: str | Decimal | None = None,
        stop: str | Decimal | None = None,
        tif: TimeInForce = GTC,
        expire_at: int | None = None,
        symbol: str = "BTC/USDT",
        account: str = "acc",
    ) -> Order:
        order = self.order(side, kind, quantity, price, stop, tif, expire_at, symbol, account)
        self.venue.submit(order)
        return order

    def bar(
        self,
        open_: str,
        high: str,
        low: str,
        close: str,
        volume: str = "1000",
        symbol: str = "BTC/USDT",
    ) -> Bar:
        """Advance the clock one minute and deliver the bar that just closed."""
        self.clock.now += MINUTE
        bar = Bar(symbol, "1m", self.clock.now - MINUTE, D(open_), D(high), D(low), D(close), D(volume))
        self.venue.on_bar(bar)
        return bar

    def kinds(self, order: Order) -> list[str]:
        return [type(event).__name__ for event in self.events if event.order_id == order.id]

    def fills_of(self, order: Order) -> list[Fill]:
        return [fill for fill in self.fills if fill.order_id == order.id]

    def balance(self, asset: str, account: str = "acc") -> Balance:
        for balance in self.venue.balances(account):
            if balance.asset == asset:
                return balance
        return Balance(account, asset)

    def expected_totals(self, account: str = "acc") -> dict[str, Decimal]:
        """Starting balances plus the cash flows of every fill reported so far."""
        totals = dict(self.start.get(account, {}))
        symbols = {instrument.symbol: instrument for instrument in self.instruments}
        for fill in self.fills:
            if fill.account_id != account:
                continue
            instrument = symbols[fill.symbol]
            for asset, amount in fill_cash_flows(fill, instrument.base, instrument.quote).items():
                totals[asset] = totals.get(asset, D(0)) + amount
        return totals
