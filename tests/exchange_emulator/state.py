"""One venue's books: balances with reservations, orders, own trades and a deterministic matching engine.

Everything here is venue-neutral and uses Decimal; the venue modules translate requests into these calls and
these objects into each exchange's payloads. All mutations are synchronous, so one HTTP request is applied
atomically with respect to the others on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, ROUND_UP, Decimal

from .market import Instrument, MarketData
from .orders import (
    FEE_SLACK,
    ZERO,
    Balance,
    Fill,
    InvariantViolation,
    Kind,
    NewOrder,
    Order,
    Reject,
    Rejected,
    Side,
    Status,
    TimeInForce,
    VenueRules,
    wall_clock_ms,
)


class VenueState:
    """Balances, orders and trades of the one account an emulated venue holds, plus its market."""

    def __init__(
        self,
        name: str,
        market: MarketData,
        rules: VenueRules,
        balances: dict[str, Decimal],
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.name = name
        self.market = market
        self.rules = rules
        self.clock = clock
        self.balances: dict[str, Balance] = {
            asset: Balance(free=amount) for asset, amount in balances.items()
        }
        self.orders: dict[str, Order] = {}
        self._by_client_id: dict[str, list[Order]] = {}  # oldest first
        self.fills: list[Fill] = []
        self.resting_fill_ratio: Decimal | None = None  # partial fills when the price crosses resting orders
        self._order_seq = 0
        self._trade_seq = 0
        self._last_ms = 0

    # ----------------------------------------------------------------- queries
    @property
    def instruments(self) -> dict[str, Instrument]:
        return self.market.instruments

    def instrument_by_venue_id(self, venue_id: str) -> Instrument | None:
        return next((i for i in self.instruments.values() if i.venue_id == venue_id), None)

    def now(self) -> int:
        self._last_ms = max(self._last_ms, self.clock())
        return self._last_ms

    def balance(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())

    def find(self, order_id: str | None = None, client_order_id: str | None = None) -> Order | None:
        """By venue id, else the newest order carrying the client order id."""
        if order_id is not None:
            order = self.orders.get(order_id)
            if order is None or (client_order_id is not None and order.client_order_id != client_order_id):
                return None
            return order
        if client_order_id is None:
            return None
        matches = self._by_client_id.get(client_order_id)
        return matches[-1] if matches else None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)]

    def fills_for(self, symbol: str | None = None) -> list[Fill]:
        return [f for f in self.fills if symbol is None or f.symbol == symbol]

    # ----------------------------------------------------------------- balances
    def _debit(self, asset: str, amount: Decimal, *, from_locked: Decimal = ZERO) -> None:
        balance = self.balance(asset)
        balance.locked -= from_locked
        balance.free -= amount - from_locked
        if balance.free < 0 or balance.locked < 0:
            raise InvariantViolation(f"{self.name} {asset} went negative: {balance}")

    def _credit(self, asset: str, amount: Decimal) -> None:
        self.balance(asset).free += amount

    def _lock(self, order: Order, asset: str, amount: Decimal) -> None:
        balance = self.balance(asset)
        if balance.free < amount:
            raise Rejected(Reject.INSUFFICIENT_BALANCE, f"{asset} free {balance.free} < {amount}")
        balance.free -= amount
        balance.locked += amount
        order.reserved += amount
        order.reserve_asset = asset

    def _unlock(self, order: Order, amount: Decimal | None = None) -> None:
        if order.reserve_asset is None:
            return
        amount = order.reserved if amount is None else min(amount, order.reserved)
        balance = self.balance(order.reserve_asset)
        balance.locked -= amount
        balance.free += amount
        order.reserved -= amount
        if balance.locked < 0:
            raise InvariantViolation(f"{self.name} {order.reserve_asset} locked went negative")

    def fee_rate(self, instrument: Instrument, maker: bool) -> Decimal:
        return instrument.maker_fee if maker else instrument.taker_fee

    def _reservation(
        self, instrument: Instrument, side: Side, qty: Decimal, price: Decimal, *, slack: bool = True
    ) -> tuple[str, Decimal]:
        if side is Side.SELL:
            return instrument.base, qty
        amount = qty * price
        if self.rules.fee_in_quote:  # fee reserved too, rounded up, plus slack for per-fill fee rounding
            fee = (amount * max(instrument.maker_fee, instrument.taker_fee)).quantize(
                self.rules.fee_quantum, ROUND_UP
            )
            amount += fee + (FEE_SLACK if slack else ZERO)
        return instrument.quote, amount

    # ----------------------------------------------------------------- placing
    def place(self, request: NewOrder) -> Order:
        instrument = self.instruments[request.symbol]
        self._validate(instrument, request)
        now = self.now()
        self._order_seq += 1
        order = Order(
            order_id=self.rules.order_id(self._order_seq),
            seq=self._order_seq,
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            kind=request.kind,
            quantity=request.quantity or ZERO,
            price=request.price,
            time_in_force=request.time_in_force,
            created_ms=now,
            updated_ms=now,
            trigger_price=request.trigger_price,
            take_profit=request.take_profit,
            quote_quantity=request.quote_quantity,
            extra=dict(request.extra),
        )
        if order.is_trigger:
            self._place_trigger(instrument, order)
        elif order.kind is Kind.MARKET:
            self._place_market(instrument, order)
        else:
            self._place_limit(instrument, order)
        self.orders[order.order_id] = order
        if order.client_order_id is not None:
            self._by_client_id.setdefault(order.client_order_id, []).append(order)
        return order

    def _validate(self, instrument: Instrument, request: NewOrder) -> None:
        cid = request.client_order_id
        if cid is not None:
            clash = self._by_client_id.get(cid, [])
            if self.rules.client_id_scope == "open":
                clash = [o for o in clash if o.is_open]
            if clash:
                raise Rejected(Reject.DUPLICATE_CLIENT_ID, cid)
        if request.quote_quantity is None:
            qty = request.quantity
            if qty is None or not instrument.on_lot(qty) or qty < instrument.min_qty:
                raise Rejected(Reject.BAD_QUANTITY, f"{qty} (lot {instrument.lot}, min {instrument.min_qty})")
        elif request.quote_quantity <= 0:
            raise Rejected(Reject.BAD_QUANTITY, f"quote quantity {request.quote_quantity}")
        for price in (request.price, request.trigger_price):
            if price is not None and not instrument.on_tick(price):
                raise Rejected(Reject.BAD_PRICE, f"{price} (tick {instrument.tick})")
        if request.kind in (Kind.LIMIT, Kind.STOP_LIMIT) and request.price is None:
            raise Rejected(Reject.BAD_PRICE, "limit price missing")
        reference = request.price or request.trigger_price or self.market.last(request.symbol)
        notional = request.quote_quantity or (request.quantity or ZERO) * reference
        if notional < instrument.min_notional:
            raise Rejected(Reject.MIN_NOTIONAL, f"{notional} < {instrument.min_notional}")

    def _place_trigger(self, instrument: Instrument, order: Order) -> None:
        assert order.trigger_price is not None
        last = self.market.last(order.symbol)
        if order.take_profit:
            rises = order.side is Side.SELL
        elif self.rules.reject_immediate_trigger:
            rises = order.side is Side.BUY
        else:
            rises = order.trigger_price > last
        order.trigger_rises = rises
        fires_now = last >= order.trigger_price if rises else last <= order.trigger_price
        if fires_now and self.rules.reject_immediate_trigger:
            raise Rejected(Reject.WOULD_TRIGGER, f"trigger {order.trigger_price} vs last {last}")
        asset, amount = self._reservation(
            instrument, order.side, order.quantity, order.price or order.trigger_price
        )
        self._lock(order, asset, amount)
        order.status = Status.UNTRIGGERED
        if fires_now:
            self._fire(instrument, order)

    def _fire(self, instrument: Instrument, order: Order) -> None:
        order.triggered_ms = self.now()
        order.status = Status.NEW
        if order.kind is Kind.STOP_MARKET:
            self._take(instrument, order, limit=None)
            self._finish_taker(order, rest=False)
        else:
            self._take(instrument, order, limit=order.price)
            self._finish_taker(order, rest=True)

    def _place_market(self, instrument: Instrument, order: Order) -> None:
        if order.side is Side.SELL:
            if self.balance(instrument.base).free < order.quantity:
                raise Rejected(Reject.INSUFFICIENT_BALANCE, f"{instrument.base} < {order.quantity}")
        elif order.quote_quantity is not None:
            if self.balance(instrument.quote).free < order.quote_quantity:
                raise Rejected(Reject.INSUFFICIENT_BALANCE, f"{instrument.quote} < {order.quote_quantity}")
        else:
            cost = self._walk_cost(instrument, order.side, order.quantity)
            if self.balance(instrument.quote).free < cost:
                raise Rejected(Reject.INSUFFICIENT_BALANCE, f"{instrument.quote} < {cost}")
        self._take(instrument, order, limit=None)
        self._finish_taker(order, rest=False)

    def _place_limit(self, instrument: Instrument, order: Order) -> None:
        assert order.price is not None
        crosses = self._crosses(order)
        if order.time_in_force is TimeInForce.POST_ONLY and crosses:
            raise Rejected(Reject.WOULD_TAKE, f"{order.side} {order.price}")
        if order.time_in_force is TimeInForce.FOK and self._executable(instrument, order) < order.quantity:
            self._close(order, Status.EXPIRED)  # a FOK that cannot fill whole is accepted and expires at once
            return
        asset, amount = self._reservation(instrument, order.side, order.quantity, order.price)
        self._lock(order, asset, amount)
        if crosses:
            self._take(instrument, order, limit=order.price)
        self._finish_taker(order, rest=order.time_in_force in (TimeInForce.GTC, TimeInForce.POST_ONLY))

    def _crosses(self, order: Order) -> bool:
        assert order.price is not None
        if order.side is Side.BUY:
            return order.price >= self.market.best_ask(order.symbol)
        return order.price <= self.market.best_bid(order.symbol)

    def _executable(self, instrument: Instrument, order: Order) -> Decimal:
        total = ZERO
        for price, size in self.market.levels(order.symbol, "asks" if order.side is Side.BUY else "bids"):
            if order.price is not None and (
                price > order.price if order.side is Side.BUY else price < order.price
            ):
                break
            total += size
        return total

    def _walk_cost(self, instrument: Instrument, side: Side, qty: Decimal) -> Decimal:
        cost, left = ZERO, qty
        levels = self.market.levels(instrument.symbol, "asks" if side is Side.BUY else "bids")
        for price, size in levels:
            take = min(size, left)
            cost += take * price
            left -= take
            if left <= 0:
                break
        cost += left * levels[-1][0]  # past the visible depth the last level absorbs the rest
        if self.rules.fee_in_quote:
            cost += (cost * instrument.taker_fee).quantize(self.rules.fee_quantum)
        return cost

    def _take(self, instrument: Instrument, order: Order, limit: Decimal | None) -> None:
        """Execute as taker against the synthetic book, one fill per level touched."""
        levels = self.market.levels(order.symbol, "asks" if order.side is Side.BUY else "bids")
        budget = order.quote_quantity
        fee_factor = 1 + instrument.taker_fee if self.rules.fee_in_quote else Decimal(1)
        for index, (price, size) in enumerate(levels):
            if limit is not None and (price > limit if order.side is Side.BUY else price < limit):
                break
            last_level = index == len(levels) - 1
            if budget is not None:
                spent = order.cost * fee_factor
                qty = instrument.round_qty((budget - spent) / (price * fee_factor))
                qty = qty if last_level else min(size, qty)
            else:
                qty = order.quantity - order.filled
                qty = qty if last_level else min(size, qty)
            if order.side is Side.BUY and order.reserve_asset is None:
                qty = min(qty, self._affordable(instrument, price, order))
            elif order.side is Side.BUY and order.kind is Kind.STOP_MARKET:
                qty = min(qty, self._affordable(instrument, price, order, extra=order.reserved))
            if qty <= 0:
                break
            self._execute(instrument, order, price, qty, maker=False)
            if budget is None and order.filled >= order.quantity:
                break
        if budget is not None:
            order.quantity = order.filled

    def _affordable(
        self, instrument: Instrument, price: Decimal, order: Order, extra: Decimal = ZERO
    ) -> Decimal:
        fee_factor = 1 + instrument.taker_fee if self.rules.fee_in_quote else Decimal(1)
        return instrument.round_qty((self.balance(instrument.quote).free + extra) / (price * fee_factor))

    def _finish_taker(self, order: Order, *, rest: bool) -> None:
        if order.filled >= order.quantity and order.quantity > 0:
            self._close(order, Status.FILLED)
        elif rest:
            order.status = Status.PARTIALLY_FILLED if order.filled else Status.NEW
        else:
            self._close(order, Status.EXPIRED)

    def _close(self, order: Order, status: Status) -> None:
        order.status = status
        order.updated_ms = self.now()
        self._unlock(order)

    def _execute(
        self, instrument: Instrument, order: Order, price: Decimal, qty: Decimal, *, maker: bool
    ) -> Fill:
        rate = self.fee_rate(instrument, maker)
        quote_amount = price * qty
        if order.side is Side.BUY:
            fee_asset = instrument.quote if self.rules.fee_in_quote else instrument.base
            fee = ((quote_amount if self.rules.fee_in_quote else qty) * rate).quantize(
                self.rules.fee_quantum, ROUND_HALF_UP
            )
            pay = quote_amount + (fee if self.rules.fee_in_quote else ZERO)
            from_locked = ZERO
            if order.reserve_asset == instrument.quote and order.reserved > 0:
                if order.kind is Kind.STOP_MARKET:  # reserved at the trigger price; the fill may cost more
                    from_locked = min(order.reserved, pay)
                else:  # release what this quantity reserved at the limit price; the improvement goes back
                    _, planned = self._reservation(
                        instrument, order.side, qty, order.price or price, slack=False
                    )
                    from_locked = min(order.reserved, planned)
            self._debit(instrument.quote, pay, from_locked=from_locked)
            order.reserved -= from_locked
            self._credit(instrument.base, qty - (ZERO if self.rules.fee_in_quote else fee))
        else:
            fee_asset = instrument.quote
            fee = (quote_amount * rate).quantize(self.rules.fee_quantum, ROUND_HALF_UP)
            from_locked = min(order.reserved, qty) if order.reserve_asset == instrument.base else ZERO
            self._debit(instrument.base, qty, from_locked=from_locked)
            order.reserved -= from_locked
            self._credit(instrument.quote, quote_amount - fee)
        self._trade_seq += 1
        fill = Fill(
            trade_id=self.rules.trade_id(self._trade_seq),
            seq=self._trade_seq,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            quantity=qty,
            fee=fee,
            fee_asset=fee_asset,
            maker=maker,
            ts_ms=self.now(),
        )
        order.filled += qty
        order.cost += quote_amount
        order.fee += fee
        order.fee_asset = fee_asset
        order.updated_ms = fill.ts_ms
        order.fills.append(fill)
        self.fills.append(fill)
        return fill

    # ----------------------------------------------------------------- changing orders
    def cancel(self, order_id: str | None = None, client_order_id: str | None = None) -> Order:
        order = self.find(order_id, client_order_id)
        if order is None:
            raise Rejected(Reject.UNKNOWN_ORDER, order_id or client_order_id or "")
        if not order.is_open:
            raise Rejected(Reject.ORDER_CLOSED, order.order_id)
        self._close(order, Status.CANCELED)
        return order

    def amend(self, order: Order, quantity: Decimal | None, price: Decimal | None) -> Order:
        """A native in-place edit: new total quantity and/or limit price, same order id."""
        if not order.is_open:
            raise Rejected(Reject.ORDER_CLOSED, order.order_id)
        instrument = self.instruments[order.symbol]
        new_qty = order.quantity if quantity is None else quantity
        new_price = order.price if price is None else price
        if not instrument.on_lot(new_qty) or new_qty <= order.filled or new_qty < instrument.min_qty:
            raise Rejected(Reject.BAD_QUANTITY, f"{new_qty} with {order.filled} filled")
        if new_price is not None and not instrument.on_tick(new_price):
            raise Rejected(Reject.BAD_PRICE, str(new_price))
        old = (order.quantity, order.price, order.reserved)
        self._unlock(order)
        order.quantity, order.price = new_qty, new_price
        asset, amount = self._reservation(
            instrument, order.side, new_qty - order.filled, new_price or order.trigger_price or ZERO
        )
        try:
            self._lock(order, asset, amount)
        except Rejected:
            order.quantity, order.price = old[0], old[1]
            asset, amount = self._reservation(
                instrument,
                order.side,
                order.quantity - order.filled,
                order.price or order.trigger_price or ZERO,
            )
            self._lock(order, asset, amount)
            raise
        order.amendments += 1
        order.updated_ms = self.now()
        if order.status is not Status.UNTRIGGERED and self._crosses(order):
            self._take(instrument, order, limit=order.price)
            self._finish_taker(order, rest=True)
        return order

    # ----------------------------------------------------------------- the test moves the market
    def set_price(self, symbol: str, price: Decimal) -> list[Fill]:
        """Set the last price; stops trigger and resting limit orders that the new book crosses fill."""
        self.market.set_last(symbol, price)
        return self.match(symbol)

    def move_market_to(self, cursor_ms: int) -> list[Fill]:
        self.market.move_cursor(cursor_ms)
        out: list[Fill] = []
        for symbol in self.instruments:
            out += self.match(symbol)
        return out

    def match(self, symbol: str) -> list[Fill]:
        before = len(self.fills)
        instrument = self.instruments[symbol]
        last = self.market.last(symbol)
        for order in sorted(self.open_orders(symbol), key=lambda o: o.seq):
            if order.status is Status.UNTRIGGERED:
                assert order.trigger_price is not None
                if (last >= order.trigger_price) if order.trigger_rises else (last <= order.trigger_price):
                    self._fire(instrument, order)
            elif order.price is not None and self._crosses(order):
                qty = order.remaining
                if self.resting_fill_ratio is not None:
                    qty = max(instrument.lot, instrument.round_qty(qty * self.resting_fill_ratio))
                self.fill(order.order_id, min(qty, order.remaining))
        return self.fills[before:]

    def fill(self, order_id: str, quantity: Decimal | None = None, price: Decimal | None = None) -> Fill:
        """Out-of-band (maker) fill of a resting order, whole remaining quantity unless told otherwise."""
        order = self.orders[order_id]
        if order.status not in (Status.NEW, Status.PARTIALLY_FILLED) or order.price is None:
            raise ValueError(f"order {order_id} is not a resting limit order ({order.status})")
        instrument = self.instruments[order.symbol]
        qty = order.remaining if quantity is None else quantity
        if qty <= 0 or qty > order.remaining or not instrument.on_lot(qty):
            raise ValueError(f"cannot fill {qty} of {order.remaining} remaining")
        fill = self._execute(instrument, order, price or order.price, qty, maker=True)
        if order.filled >= order.quantity:
            self._close(order, Status.FILLED)
        else:
            order.status = Status.PARTIALLY_FILLED
        return fill

    def transfer(self, asset: str, amount: Decimal) -> Balance:
        """A deposit (positive) or a withdrawal (negative) outside any trade."""
        if amount < 0:
            self._debit(asset, -amount)
        else:
            self._credit(asset, amount)
        return self.balance(asset)

    def cancel_out_of_band(self, order_id: str, status: Status = Status.CANCELED) -> Order:
        """The venue cancels or expires an order on its own (risk, expiry, maintenance)."""
        order = self.orders[order_id]
        if not order.is_open:
            raise ValueError(f"order {order_id} is already {order.status}")
        self._close(order, status)
        return order

    def check_invariants(self) -> None:
        """Locked balances equal the sum of open orders' reservations; nothing is negative."""
        locked: dict[str, Decimal] = {}
        for order in self.orders.values():
            if order.reserve_asset is not None and order.reserved:
                if not order.is_open:
                    raise InvariantViolation(f"closed order {order.order_id} still reserves {order.reserved}")
                locked[order.reserve_asset] = locked.get(order.reserve_asset, ZERO) + order.reserved
        for asset, balance in self.balances.items():
            if balance.free < 0 or balance.locked < 0:
                raise InvariantViolation(f"{asset} negative: {balance}")
            if balance.locked != locked.get(asset, ZERO):
                raise InvariantViolation(
                    f"{asset} locked {balance.locked} != reserved {locked.get(asset, ZERO)}"
                )
