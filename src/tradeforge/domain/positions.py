"""Netting positions per account and symbol, derived from fills with average-cost accounting."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from tradeforge.domain.fills import Fill
from tradeforge.domain.values import ZERO

# Proportional cost release is the one inexact step; it is rounded to this grid and every other
# step is a sum, so realized + unrealized stays exactly equal to the fills' cash flows.
RELEASE_QUANTUM = Decimal("1e-20")
POSITION_PRECISION = 60


@dataclass(slots=True)
class Position:
    """quantity is signed (long > 0); cost_basis is the signed entry value of the open quantity.

    Realized PnL excludes fees (they are kept apart in `fees`). Splitting a close into released and
    remaining cost by subtraction keeps realized + unrealized exactly equal to the fills' cash flows,
    whatever rounding the proportional release needs."""

    account_id: str
    symbol: str
    quantity: Decimal = ZERO
    cost_basis: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    updated_at: int = 0

    @property
    def average_price(self) -> Decimal | None:
        if self.quantity == ZERO:
            return None
        return self.cost_basis / self.quantity

    def unrealized_pnl(self, mark: Decimal | None) -> Decimal:
        if mark is None or self.quantity == ZERO:
            return ZERO
        return self.quantity * mark - self.cost_basis

    def apply_fill(self, fill: Fill, fee_in_quote: Decimal) -> None:
        delta = fill.quantity if fill.side.sign > 0 else -fill.quantity
        price = fill.price
        quantity = self.quantity
        if quantity != ZERO and (quantity > 0) != (delta > 0):
            closing = min(abs(delta), abs(quantity))
            if closing == abs(quantity):
                released = self.cost_basis
            else:
                with localcontext() as context:
                    context.prec = POSITION_PRECISION
                    released = (self.cost_basis * closing / abs(quantity)).quantize(RELEASE_QUANTUM)
            signed_close = closing if delta > 0 else -closing
            with localcontext() as context:
                context.prec = POSITION_PRECISION
                self.realized_pnl += -signed_close * price - released
                self.cost_basis -= released
            quantity += signed_close
            delta -= signed_close
            if quantity == ZERO:
                self.cost_basis = ZERO
        if delta != ZERO:
            self.cost_basis += delta * price
            quantity += delta
        self.quantity = quantity
        self.fees += fee_in_quote
        self.updated_at = max(self.updated_at, fill.ts)
