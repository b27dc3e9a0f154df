"""Round-trip trades rebuilt from fills: a trip opens when a position leaves zero and closes at zero."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, Inexact, localcontext
from enum import StrEnum
from typing import Any

from tradeforge.domain.fills import Fill
from tradeforge.domain.values import ZERO, decimal_str

# Sums of quantity x price need more digits than the default 28 to stay exact on 8-decimal crypto
# quantities and prices; the pro-rata fee split is the one division and is rounded to FEE_QUANTUM only
# when it does not terminate, the other part taking the remainder so the two add up exactly.
PRECISION = 60
FEE_QUANTUM = Decimal("1e-20")


class TradeSide(StrEnum):
    LONG = "long"
    SHORT = "short"


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One closed round trip. Money is Decimal in the quote asset.

    quantity is the total quantity entered (equal to the total exited); entry_price and exit_price are
    volume-weighted averages over the entering and exiting fills (display values: one division each).
    gross_pnl is computed from the fills' notionals, not from the averages, so it is exact; fees are
    the fills' fees (a flipping fill's fee split pro rata by quantity) and net_pnl = gross_pnl - fees.
    bars_held is (exit_ts - entry_ts) // bar interval when the interval is known, else None."""

    symbol: str
    side: TradeSide
    quantity: Decimal
    entry_ts: int
    exit_ts: int
    entry_price: Decimal
    exit_price: Decimal
    gross_pnl: Decimal
    fees: Decimal
    net_pnl: Decimal
    bars_held: int | None = None

    @property
    def duration_ms(self) -> int:
        return self.exit_ts - self.entry_ts

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: decimals as plain strings."""
        return {
            "symbol": self.symbol,
            "side": self.side.value,
            "quantity": decimal_str(self.quantity),
            "entry_ts": self.entry_ts,
            "exit_ts": self.exit_ts,
            "entry_price": decimal_str(self.entry_price),
            "exit_price": decimal_str(self.exit_price),
            "gross_pnl": decimal_str(self.gross_pnl),
            "fees": decimal_str(self.fees),
            "net_pnl": decimal_str(self.net_pnl),
            "bars_held": self.bars_held,
        }


@dataclass(slots=True)
class OpenTrip:
    """The round trip in progress for one symbol (open quantity > 0)."""

    symbol: str
    side: TradeSide
    open_quantity: Decimal
    entry_ts: int
    entry_quantity: Decimal
    entry_notional: Decimal
    exit_quantity: Decimal = ZERO
    exit_notional: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def entry_price(self) -> Decimal:
        return self.entry_notional / self.entry_quantity


def _quote_asset(symbol: str) -> str | None:
    """ "BTC/USDT" and "BTC/USDT:USDT" (ccxt unified) -> "USDT"; None when the symbol has no slash."""
    if "/" not in symbol:
        return None
    return symbol.split("/", 1)[1].split(":", 1)[0]


def split_fee(fee: Decimal, part: Decimal, whole: Decimal) -> tuple[Decimal, Decimal]:
    """Split fee pro rata: (fee * part / whole, the rest). The two always add up to fee exactly."""
    with localcontext() as context:
        context.prec = PRECISION
        context.clear_flags()
        share = fee * part / whole
        if context.flags[Inexact]:
            share = share.quantize(FEE_QUANTUM)
        return share, fee - share


class RoundTripTracker:
    """Incremental round-trip builder, one open trip per symbol; feed fills in execution order.

    The backtest engine can call `add` as fills arrive; `round_trips` is the batch form."""

    def __init__(self, bar_interval_ms: int | None = None) -> None:
        if bar_interval_ms is not None and bar_interval_ms <= 0:
            raise ValueError("bar_interval_ms must be positive")
        self._bar_interval_ms = bar_interval_ms
        self._open: dict[str, OpenTrip] = {}

    def open_trip(self, symbol: str) -> OpenTrip | None:
        return self._open.get(symbol)

    def open_trips(self) -> list[OpenTrip]:
        return list(self._open.values())

    def add(self, fill: Fill) -> RoundTrip | None:
        """Apply one fill; return the trip it closes, if any (a flip closes one and opens the next)."""
        if fill.quantity <= 0:
            raise ValueError(f"fill {fill.fill_id}: quantity must be positive, got {fill.quantity}")
        quote = _quote_asset(fill.symbol)
        if fill.fee != 0 and quote is not None and fill.fee_asset != quote:
            raise ValueError(
                f"fill {fill.fill_id}: fee in {fill.fee_asset}; trips need it in the quote asset {quote}"
            )
        with localcontext() as context:
            context.prec = PRECISION
            return self._apply(fill)

    def _apply(self, fill: Fill) -> RoundTrip | None:
        side = TradeSide.LONG if fill.side.sign > 0 else TradeSide.SHORT
        trip = self._open.get(fill.symbol)
        if trip is None:
            self._start(fill, side, fill.quantity, fill.fee)
            return None
        if trip.side is side:
            trip.open_quantity += fill.quantity
            trip.entry_quantity += fill.quantity
            trip.entry_notional += fill.quantity * fill.price
            trip.fees += fill.fee
            return None
        closing = min(fill.quantity, trip.open_quantity)
        if closing == fill.quantity:
            closing_fee, opening_fee = fill.fee, ZERO
        else:
            closing_fee, opening_fee = split_fee(fill.fee, closing, fill.quantity)
        trip.open_quantity -= closing
        trip.exit_quantity += closing
        trip.exit_notional += closing * fill.price
        trip.fees += closing_fee
        if trip.open_quantity != ZERO:
            return None
        del self._open[fill.symbol]
        closed = self._close(trip, fill.ts)
        remainder = fill.quantity - closing
        if remainder != ZERO:
            self._start(fill, side, remainder, opening_fee)
        return closed

    def _start(self, fill: Fill, side: TradeSide, quantity: Decimal, fee: Decimal) -> None:
        self._open[fill.symbol] = OpenTrip(
            symbol=fill.symbol,
            side=side,
            open_quantity=quantity,
            entry_ts=fill.ts,
            entry_quantity=quantity,
            entry_notional=quantity * fill.price,
            fees=fee,
        )

    def _close(self, trip: OpenTrip, exit_ts: int) -> RoundTrip:
        if trip.side is TradeSide.LONG:
            gross = trip.exit_notional - trip.entry_notional
        else:
            gross = trip.entry_notional - trip.exit_notional
        bars_held = None
        if self._bar_interval_ms is not None:
            bars_held = (exit_ts - trip.entry_ts) // self._bar_interval_ms
        with localcontext() as context:
            # Averages are display values: the default 28 digits keep them readable.
            context.prec = 28
            entry_price = trip.entry_notional / trip.entry_quantity
            exit_price = trip.exit_notional / trip.exit_quantity
        return RoundTrip(
            symbol=trip.symbol,
            side=trip.side,
            quantity=trip.entry_quantity,
            entry_ts=trip.entry_ts,
            exit_ts=exit_ts,
            entry_price=entry_price,
            exit_price=exit_price,
            gross_pnl=gross,
            fees=trip.fees,
            net_pnl=gross - trip.fees,
            bars_held=bars_held,
        )


def round_trips(fills: Iterable[Fill], bar_interval_ms: int | None = None) -> list[RoundTrip]:
    """Closed round trips, in the order they closed, from fills in execution order.

    A position still open after the last fill is not a round trip (see RoundTripTracker.open_trips)."""
    tracker = RoundTripTracker(bar_interval_ms)
    closed: list[RoundTrip] = []
    for fill in fills:
        trip = tracker.add(fill)
        if trip is not None:
            closed.append(trip)
    return closed
