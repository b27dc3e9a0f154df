"""Netting positions per account and symbol, derived from fills with average-cost accounting."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal

from tradeforge.domain.copies import Reduction, reduce_fields
from tradeforge.domain.fills import Fill
from tradeforge.domain.values import ZERO

# Proportional cost release is the one inexact step; it is rounded to this grid and every other
# step is a sum, so realized + unrealized stays exactly equal to the fills' cash flows.
RELEASE_QUANTUM = Decimal("1e-20")
POSITION_PRECISION = 60
_EXACT = Context(prec=POSITION_PRECISION)


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

    def __init__(
        self,
        account_id: str,
        symbol: str,
        quantity: Decimal = ZERO,
        cost_basis: Decimal = ZERO,
        realized_pnl: Decimal = ZERO,
        fees: Decimal = ZERO,
        updated_at: int = 0,
    ) -> None:
        # Written out: compiled, an explicit __init__ is native code and the dataclass one is not
        # (ADR 7; every stored unit copies the positions it changed).
        self.account_id = account_id
        self.symbol = symbol
        self.quantity = quantity
        self.cost_basis = cost_basis
        self.realized_pnl = realized_pnl
        self.fees = fees
        self.updated_at = updated_at

    def __reduce__(self) -> Reduction:
        return reduce_fields(self)

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
                released = _EXACT.divide(_EXACT.multiply(self.cost_basis, closing), abs(quantity)).quantize(
                    RELEASE_QUANTUM, context=_EXACT
                )
            signed_close = closing if delta > 0 else -closing
            # Context methods, not localcontext(): exact at 60 digits without a context switch per fill.
            self.realized_pnl = _EXACT.subtract(
                _EXACT.add(self.realized_pnl, _EXACT.minus(_EXACT.multiply(signed_close, price))), released
            )
            self.cost_basis = _EXACT.subtract(self.cost_basis, released)
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
