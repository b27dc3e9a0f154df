"""Portfolio: the local ledger of positions and balances, derived from fills, plus last prices."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

from tradeforge.domain.balances import Balance, apply_flows, fill_cash_flows
from tradeforge.domain.copies import snapshot
from tradeforge.domain.data import Bar, Tick
from tradeforge.domain.events import BalanceChanged, PositionChanged
from tradeforge.domain.fills import Fill, OrderSide
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order, OrderType
from tradeforge.domain.positions import Position
from tradeforge.domain.values import ZERO
from tradeforge.engine.instruments import InstrumentRegistry

# The current price of a symbol, asked for only when needed (a backtest converts its float bars to
# Decimal lazily: most bars never meet money).
MarkSource = Callable[[], Decimal | None]


class Portfolio:
    """Positions per (account, symbol) and balances per (account, asset).

    Balances here are the books' view; the venue keeps its own, and reconciliation compares them.
    `locked` is not stored: it is what working orders reserve, computed from them on demand."""

    def __init__(
        self,
        instruments: InstrumentRegistry,
        working_orders: Callable[[str], Sequence[Order]],
        reservation_buffer: Decimal = Decimal("0.05"),
    ) -> None:
        self._instruments = instruments
        self._working_orders = working_orders
        self._buffer = reservation_buffer
        self._positions: dict[tuple[str, str], Position] = {}
        self._balances: dict[str, dict[str, Balance]] = {}
        self._last: dict[str, Decimal] = {}
        self._marks: dict[str, MarkSource] = {}

    # --- loading -------------------------------------------------------------------------------
    def load(self, positions: Iterable[Position], balances: Iterable[Balance]) -> None:
        for position in positions:
            self._positions[(position.account_id, position.symbol)] = position
        for balance in balances:
            self._balances.setdefault(balance.account_id, {})[balance.asset] = balance

    def deposit(self, account_id: str, asset: str, amount: Decimal, ts: int) -> Balance:
        changed = apply_flows(self._balances.setdefault(account_id, {}), account_id, {asset: amount}, ts)
        return changed[0]

    # --- market data ---------------------------------------------------------------------------
    def on_bar(self, bar: Bar) -> None:
        self._last[bar.symbol] = bar.close

    def on_tick(self, tick: Tick) -> None:
        self._last[tick.symbol] = tick.price

    def set_last_price(self, symbol: str, price: Decimal) -> None:
        self._last[symbol] = price

    def mark_from(self, symbol: str, source: MarkSource) -> None:
        """Take `symbol`'s last price from `source` from now on instead of from bars and ticks."""
        self._marks[symbol] = source

    def last_price(self, symbol: str) -> Decimal | None:
        source = self._marks.get(symbol)
        return self._last.get(symbol) if source is None else source()

    # --- fills ---------------------------------------------------------------------------------
    def apply_fill(self, fill: Fill) -> tuple[Position, list[Balance]]:
        """Book a fill: balances first (refusing a negative balance before anything changes), then
        the position. Returns the changed objects (live); `ledger_events` describes them."""
        instrument = self._instruments.get(fill.venue, fill.symbol)
        flows = fill_cash_flows(fill, instrument.base, instrument.quote)
        balances = apply_flows(
            self._balances.setdefault(fill.account_id, {}), fill.account_id, flows, fill.ts
        )
        key = (fill.account_id, fill.symbol)
        position = self._positions.get(key)
        if position is None:
            position = self._positions[key] = Position(fill.account_id, fill.symbol)
        fee_in_quote = fill.fee if fill.fee_asset == instrument.quote else fill.fee * fill.price
        position.apply_fill(fill, fee_in_quote)
        return position, balances

    @staticmethod
    def position_event(position: Position, ts: int) -> PositionChanged:
        return PositionChanged(
            ts,
            position.account_id,
            position.symbol,
            position.quantity,
            position.average_price,
            position.realized_pnl,
        )

    @staticmethod
    def balance_event(balance: Balance, ts: int) -> BalanceChanged:
        return BalanceChanged(ts, balance.account_id, balance.asset, balance.total)

    # --- views ---------------------------------------------------------------------------------
    def position(self, account_id: str, symbol: str) -> Position | None:
        return self._positions.get((account_id, symbol))

    def position_quantity(self, account_id: str, symbol: str) -> Decimal:
        position = self._positions.get((account_id, symbol))
        return position.quantity if position is not None else ZERO

    def positions(self, account_id: str | None = None) -> list[Position]:
        return [
            snapshot(p)
            for (acct, _), p in sorted(self._positions.items())
            if account_id is None or acct == account_id
        ]

    def balances(self, account_id: str) -> list[Balance]:
        return [snapshot(b) for _, b in sorted(self._balances.get(account_id, {}).items())]

    def all_balances(self) -> list[Balance]:
        return [snapshot(b) for acct in sorted(self._balances) for b in self.balances(acct)]

    def balance_total(self, account_id: str, asset: str) -> Decimal:
        balance = self._balances.get(account_id, {}).get(asset)
        return balance.total if balance is not None else ZERO

    def reserved(self, account_id: str) -> dict[str, Decimal]:
        """What the account's working orders could still spend, per asset."""
        reserved: dict[str, Decimal] = {}
        for order in self._working_orders(account_id):
            instrument = self._instruments.get(order.venue, order.symbol)
            asset, amount = self._reservation(order, instrument)
            reserved[asset] = reserved.get(asset, ZERO) + amount
        return reserved

    def available_balance(self, account_id: str, asset: str) -> Decimal:
        return self.balance_total(account_id, asset) - self.reserved(account_id).get(asset, ZERO)

    def _reservation(self, order: Order, instrument: Instrument) -> tuple[str, Decimal]:
        remaining = order.remaining
        if order.side is OrderSide.SELL:
            return instrument.base, remaining
        if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and order.price is not None:
            price = order.price
        else:
            reference = order.stop_price if order.type is OrderType.STOP else self.last_price(order.symbol)
            price = (reference or ZERO) * (1 + self._buffer)
        return instrument.quote, remaining * price * (1 + instrument.taker_fee)

    def instrument(self, symbol: str) -> Instrument:
        return self._instruments.find(symbol)

    def equity(self, account_id: str, quote: str) -> Decimal:
        """Account value in `quote`, each base balance marked at its last price against quote."""
        total = ZERO
        for balance in self._balances.get(account_id, {}).values():
            if balance.asset == quote:
                total += balance.total
            else:
                price = self.last_price(f"{balance.asset}/{quote}")
                if price is not None:
                    total += balance.total * price
        return total
