"""Slippage models for the paper venue's taker fills, and the against-the-trader tick rounding."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Protocol

from tradeforge.domain.fills import OrderSide
from tradeforge.domain.values import ONE, ZERO

_BPS = Decimal(10_000)


class SlippageModel(Protocol):
    def adjust(self, side: OrderSide, price: Decimal, quantity: Decimal, bar_volume: Decimal) -> Decimal:
        """The raw execution price of a taker fill of `quantity` at reference `price` in a bar that
        traded `bar_volume`; worse for the trader (higher for buys), never better. Tick rounding
        is applied afterwards by the venue."""
        ...


@dataclass(frozen=True, slots=True)
class NoSlippage:
    """Fill exactly at the reference price."""

    def adjust(self, side: OrderSide, price: Decimal, quantity: Decimal, bar_volume: Decimal) -> Decimal:
        return price


@dataclass(frozen=True, slots=True)
class FixedBps:
    """A constant spread-like cost: price * (1 + bps / 10 000) for buys, (1 - bps / 10 000) for sells."""

    bps: Decimal

    def __post_init__(self) -> None:
        if not ZERO <= self.bps < _BPS:
            raise ValueError("bps must be in [0, 10000)")

    def adjust(self, side: OrderSide, price: Decimal, quantity: Decimal, bar_volume: Decimal) -> Decimal:
        fraction = self.bps / _BPS
        return price * (ONE + fraction) if side is OrderSide.BUY else price * (ONE - fraction)


@dataclass(frozen=True, slots=True)
class VolumeShareSlippage:
    """Market impact growing with the order's share of the bar's volume (the Zipline model):

    share = min(quantity / bar_volume, 1)   (1 when the bar has no volume)
    impact = price_impact * share ** 2
    price * (1 + impact) for buys, price * (1 - impact) for sells.
    """

    price_impact: Decimal = Decimal("0.1")

    def __post_init__(self) -> None:
        if not ZERO <= self.price_impact < ONE:
            raise ValueError("price_impact must be in [0, 1)")

    def adjust(self, side: OrderSide, price: Decimal, quantity: Decimal, bar_volume: Decimal) -> Decimal:
        share = ONE if bar_volume <= ZERO else min(quantity / bar_volume, ONE)
        impact = self.price_impact * share * share
        return price * (ONE + impact) if side is OrderSide.BUY else price * (ONE - impact)


def round_against(side: OrderSide, price: Decimal, tick: Decimal) -> Decimal:
    """Put a price on the tick grid on the trader's worse side: buys round up, sells round down."""
    buy = side is OrderSide.BUY
    candidate = (price / tick).to_integral_value(rounding=ROUND_CEILING if buy else ROUND_FLOOR) * tick
    # The division rounds at the context precision; step once more if that left us on the wrong side.
    if buy and candidate < price:
        candidate += tick
    elif not buy and candidate > price:
        candidate -= tick
    if candidate <= ZERO:
        # A sell slipped below the first tick still trades at a positive price.
        candidate = tick
    return price if candidate == price else candidate
