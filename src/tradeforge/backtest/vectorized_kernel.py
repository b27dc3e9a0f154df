"""The vectorized backtest kernel: fills from signal arrays, exact integer money, a float equity curve."""

# Fill rules (the event-driven engine's): a signal on bar i's close becomes a market order filled at
# bar i+1's open; long only, a fixed quantity, an entry only when flat, an exit of the whole
# position; a signal on the last bar is not filled. So the position wanted after bar i is "long"
# when the last non-zero signal up to bar i is +1, and every change of that wish is one fill, one
# bar later. Only the ~2 % of bars that carry a signal are looked at after one flatnonzero pass.
#
# Money is exact without Decimal arithmetic per fill: prices are integer ticks (the data is on the
# tick grid), the quantity and the fee rate are integers over powers of ten, so every cash flow is an
# integer count of 10**-exponent quote units. int64 holds them while a bound computed up front says
# so; otherwise the same code runs on Python integers (object arrays). The per-bar equity curve is
# float64, which is where ADR 5 lets market data stay float.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.backtest.trades import PRECISION, RoundTrip, TradeSide
from tradeforge.indicators.exact import to_ticks

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Ints = npt.NDArray[Any]  # int64, or object (Python int) when int64 could overflow
# int64 for money while every sum stays below this; Python integers beyond.
_INT64_SAFE = 2**62
_BPS_DIGITS = 4  # basis points: 10**-4


def decimal_digits(value: Decimal) -> int:
    """Digits after the point in value's shortest exact form (0 for integers, 3 for 0.001)."""
    exponent = value.normalize().as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"{value} is not a finite number")
    return max(0, -exponent)


def scaled_int(value: Decimal, digits: int) -> int:
    """value * 10**digits, which must be a whole number."""
    scaled = value.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {digits} decimals")
    return int(scaled)


@dataclass(frozen=True, slots=True)
class Pricing:
    """The fill rules' integers. Prices are in units of 10**-price_digits; money (cash flows, fees,
    PnL) in units of 10**-money_digits."""

    price_decimals: int  # the tick grid: tick = 10**-price_decimals
    quantity_units: int  # quantity * 10**quantity_digits
    quantity_digits: int
    fee_units: int  # fee_rate * 10**fee_digits
    fee_digits: int
    slippage_units: int  # slippage_bps * 10**slippage_digits
    slippage_digits: int
    round_to_tick: bool

    @classmethod
    def of(
        cls,
        price_decimals: int,
        quantity: Decimal,
        fee_rate: Decimal,
        slippage_bps: Decimal,
        round_to_tick: bool,
    ) -> Pricing:
        quantity_digits = decimal_digits(quantity)
        fee_digits = decimal_digits(fee_rate)
        slippage_digits = decimal_digits(slippage_bps)
        return cls(
            price_decimals=price_decimals,
            quantity_units=scaled_int(quantity, quantity_digits),
            quantity_digits=quantity_digits,
            fee_units=scaled_int(fee_rate, fee_digits),
            fee_digits=fee_digits,
            slippage_units=scaled_int(slippage_bps, slippage_digits),
            slippage_digits=slippage_digits,
            round_to_tick=round_to_tick,
        )

    @property
    def price_digits(self) -> int:
        """Decimals of a fill price: the tick grid, or finer for unrounded slippage."""
        if self.slippage_units == 0 or self.round_to_tick:
            return self.price_decimals
        return self.price_decimals + _BPS_DIGITS + self.slippage_digits

    @property
    def money_digits(self) -> int:
        return self.price_digits + self.quantity_digits + self.fee_digits


@dataclass(frozen=True, slots=True)
class Fills:
    """Where the position changes. Bars are indices into the input arrays; prices and money are
    integers (see Pricing); entries and exits alternate, entry first, and the last entry may be
    unmatched (a position still open at the end)."""

    entry_bars: IntArray
    exit_bars: IntArray
    entry_prices: Ints
    exit_prices: Ints
    pending_order: bool  # a signal on the last bar: an order placed that never filled

    @property
    def count(self) -> int:
        return len(self.entry_bars) + len(self.exit_bars)

    @property
    def is_open(self) -> bool:
        return len(self.entry_bars) > len(self.exit_bars)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the kernel computed for one signal array. Money in units of 10**-money_digits."""

    fills: Fills
    net_pnl: Ints  # per closed trip, fees deducted
    fees: int  # every fill's fee, an open entry's included
    cash_flow: int  # sells minus buys, fees included
    open_value: int  # an open position marked at the last close (0 when flat)
    exposure_bars: int  # bars that ended with the position open
    equity: FloatArray  # per bar, at the close


def signal_changes(signals: npt.ArrayLike) -> tuple[IntArray, IntArray, bool]:
    """(entry signal bars, exit signal bars, a change on the last bar) under long-only,
    no-pyramiding rules: a positive signal enters when flat, a negative one exits when long,
    repeats are ignored."""
    sig = np.asarray(signals)
    if sig.ndim != 1:
        raise ValueError("signals must be one-dimensional")
    if sig.dtype.kind == "f" and not np.all(np.isfinite(sig)):
        raise ValueError("signals must be finite (+1, -1 or 0)")
    if sig.dtype.kind not in "biuf":
        raise ValueError(f"signals must be numbers or booleans, not {sig.dtype}")
    bars = np.flatnonzero(sig)
    wants_long = sig[bars] > 0
    previous = np.empty_like(wants_long)
    previous[:1] = False  # flat before the first signal
    previous[1:] = wants_long[:-1]
    changes = wants_long != previous
    entries = bars[changes & wants_long].astype(np.int64)
    exits = bars[changes & ~wants_long].astype(np.int64)
    last = len(sig) - 1
    pending = bool((len(entries) and entries[-1] == last) or (len(exits) and exits[-1] == last))
    if pending:
        # Nothing follows the last bar: its order is placed but never filled.
        if len(entries) and entries[-1] == last:
            entries = entries[:-1]
        else:
            exits = exits[:-1]
    return entries, exits, pending


def _fill_prices(opens: FloatArray, bars: IntArray, pricing: Pricing, buy: bool, wide: bool) -> Ints:
    """Fill prices at the open of `bars`, slipped against the trader and rounded to the tick as the
    paper venue does (buys up, sells down, never below one tick)."""
    ticks: Ints = to_ticks(opens[bars], pricing.price_decimals)
    if pricing.slippage_units == 0:
        return ticks
    scale = 10 ** (_BPS_DIGITS + pricing.slippage_digits)
    factor = scale + pricing.slippage_units if buy else scale - pricing.slippage_units
    if wide:
        ticks = ticks.astype(object)
    raw: Ints = ticks * factor
    if not pricing.round_to_tick:
        return raw
    if buy:
        up: Ints = -((-raw) // scale)
        return up
    down: Ints = raw // scale
    return np.maximum(down, 1) if len(down) else down


def simulate(
    signals: npt.ArrayLike, opens: FloatArray, closes: FloatArray, pricing: Pricing, cash_units: int
) -> Outcome:
    """Run the fill rules over one signal array. cash_units is the starting cash in money units
    (rounded down); a buy that cash cannot pay is a ValueError: vectorized mode does not resize."""
    n = len(closes)
    if len(np.asarray(signals)) != n or len(opens) != n:
        raise ValueError("signals, opens and closes must have one value per bar")
    entry_signals, exit_signals, pending = signal_changes(signals)
    entry_bars = entry_signals + 1
    exit_bars = exit_signals + 1
    fill_count = len(entry_bars) + len(exit_bars)
    q = pricing.quantity_units
    fee = pricing.fee_units
    fee_scale = 10**pricing.fee_digits
    slip_scale = 10 ** (_BPS_DIGITS + pricing.slippage_digits) if pricing.slippage_units else 1
    # The largest fill price in price units (slippage at most doubles it) times the largest money
    # multiplier, times every fill: when that fits, so does every sum of cash flows.
    top = int(float(np.max(opens)) * 10**pricing.price_decimals + 2) if n else 0
    bound = top * 2 * slip_scale * q * (fee_scale + fee) * (fill_count + 1)
    wide = bound >= _INT64_SAFE or abs(cash_units) >= _INT64_SAFE
    entry_prices = _fill_prices(opens, entry_bars, pricing, buy=True, wide=wide)
    exit_prices = _fill_prices(opens, exit_bars, pricing, buy=False, wide=wide)
    if wide:
        entry_prices = entry_prices.astype(object)
        exit_prices = exit_prices.astype(object)
    fills = Fills(entry_bars, exit_bars, entry_prices, exit_prices, pending)

    buy_cost = entry_prices * (q * (fee_scale + fee))
    sell_proceeds = exit_prices * (q * (fee_scale - fee))
    closed = len(exit_bars)
    net_pnl = sell_proceeds - buy_cost[:closed]
    fees = int(np.sum(entry_prices) + np.sum(exit_prices)) * q * fee if fill_count else 0
    cash_flow = int(np.sum(sell_proceeds)) - int(np.sum(buy_cost)) if fill_count else 0

    # Cash after each fill, fills in time order (entry, exit, entry, ...).
    flows = np.empty(fill_count, dtype=object if wide else np.int64)
    flows[0::2] = -buy_cost
    flows[1::2] = sell_proceeds
    cash_after = np.cumsum(flows) + cash_units
    if len(entry_bars):
        cash_before_buy = np.concatenate(([cash_units], cash_after[1::2]))[: len(entry_bars)]
        short = np.flatnonzero(cash_before_buy < buy_cost)
        if len(short):
            bar = int(entry_bars[short[0]])
            raise ValueError(
                f"the cash cannot pay the buy at bar {bar}: vectorized mode trades a fixed quantity "
                "and never resizes an order; start with more cash"
            )

    open_value = 0
    if fills.is_open:
        last_close = int(to_ticks(closes[-1:], pricing.price_decimals)[0])
        price_scale = 10 ** (pricing.price_digits - pricing.price_decimals)
        open_value = last_close * price_scale * q * fee_scale

    money_scale = 10.0**pricing.money_digits
    fill_bars = np.empty(fill_count, dtype=np.int64)
    fill_bars[0::2] = entry_bars
    fill_bars[1::2] = exit_bars
    # Each value holds from its fill's bar to the next fill: repeat them over those spans.
    spans = np.diff(np.concatenate(([0], fill_bars, [n])))
    cash_levels = np.concatenate(([float(cash_units)], cash_after.astype(np.float64))) / money_scale
    held = np.zeros(fill_count + 1, dtype=np.float64)
    held[1::2] = q / 10**pricing.quantity_digits
    equity = np.repeat(cash_levels, spans) + np.repeat(held, spans) * closes

    exposure = int(np.sum(exit_bars - entry_bars[:closed]))
    if fills.is_open:
        exposure += n - int(entry_bars[-1])
    return Outcome(
        fills=fills,
        net_pnl=net_pnl,
        fees=fees,
        cash_flow=cash_flow,
        open_value=open_value,
        exposure_bars=exposure,
        equity=equity,
    )


# -- from integers to Decimal money and RoundTrip objects ----------------------------------------


def to_units(value: Decimal, digits: int) -> int:
    """value in units of 10**-digits, rounded down (starting cash compared against exact costs)."""
    with localcontext() as context:
        context.prec = PRECISION
        return int(value.scaleb(digits).to_integral_value(rounding=ROUND_FLOOR))


def to_money(units: int, digits: int) -> Decimal:
    """units * 10**-digits as an exact Decimal."""
    with localcontext() as context:
        context.prec = PRECISION
        return Decimal(units).scaleb(-digits)


def final_equity(outcome: Outcome, pricing: Pricing, cash: Decimal) -> Decimal:
    """Starting cash plus every cash flow plus an open position marked at the last close: exact."""
    with localcontext() as context:
        context.prec = PRECISION
        return cash + to_money(outcome.cash_flow + outcome.open_value, pricing.money_digits)


def round_trips_of(
    outcome: Outcome,
    timestamps: IntArray,
    pricing: Pricing,
    symbol: str,
    quantity: Decimal,
    bar_interval_ms: int | None,
) -> list[RoundTrip]:
    """The closed trips as RoundTrip objects, the numbers RoundTripTracker builds from the same
    fills; each price and amount is converted once from its integer."""
    fills = outcome.fills
    closed = len(fills.exit_bars)
    entry_prices = fills.entry_prices[:closed].tolist()
    exit_prices = fills.exit_prices.tolist()
    entry_ts = timestamps[fills.entry_bars[:closed]].tolist()
    exit_ts = timestamps[fills.exit_bars].tolist()
    q, fee, fee_scale = pricing.quantity_units, pricing.fee_units, 10**pricing.fee_digits
    price_digits, money_digits = -pricing.price_digits, -pricing.money_digits
    interval = bar_interval_ms
    long = TradeSide.LONG
    trips: list[RoundTrip] = []
    append = trips.append
    with localcontext() as context:
        context.prec = PRECISION
        for e_ts, x_ts, e_px, x_px, net in zip(
            entry_ts, exit_ts, entry_prices, exit_prices, outcome.net_pnl.tolist(), strict=True
        ):
            append(
                RoundTrip(
                    symbol,
                    long,
                    quantity,
                    e_ts,
                    x_ts,
                    Decimal(e_px).scaleb(price_digits),
                    Decimal(x_px).scaleb(price_digits),
                    Decimal((x_px - e_px) * q * fee_scale).scaleb(money_digits),
                    Decimal((x_px + e_px) * q * fee).scaleb(money_digits),
                    Decimal(net).scaleb(money_digits),
                    (x_ts - e_ts) // interval if interval else None,
                )
            )
    return trips


def trade_metrics(net_pnl: Sequence[Any] | npt.NDArray[Any], digits: int) -> dict[str, Any]:
    """The trade fields of metrics.Metrics (as metrics.compute_metrics computes them from RoundTrip
    objects) straight from integer net PnLs: what a sweep needs without building the trips."""
    net = np.asarray(net_pnl)
    wins = net[net > 0]
    losses = net[net < 0]
    gross_profit = to_money(int(np.sum(wins)) if len(wins) else 0, digits)
    gross_loss = to_money(-int(np.sum(losses)) if len(losses) else 0, digits)
    with localcontext() as context:
        context.prec = PRECISION
        total = gross_profit - gross_loss
    count = len(net)
    profit_factor = None
    if gross_loss > 0:
        ratio = float(gross_profit / gross_loss)
        profit_factor = ratio if np.isfinite(ratio) else None
    return {
        "trade_count": count,
        "winning_trades": len(wins),
        "losing_trades": len(losses),
        "win_rate": len(wins) / count if count else None,
        "profit_factor": profit_factor,
        "expectancy": total / count if count else None,
        "gross_profit": gross_profit,
        "gross_loss": gross_loss,
    }
