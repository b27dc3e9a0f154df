"""Balances per account and asset, and the spot cash flows a fill implies."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradeforge.domain.copies import Reduction, reduce_fields
from tradeforge.domain.errors import InsufficientBalance
from tradeforge.domain.fills import Fill, OrderSide
from tradeforge.domain.values import ZERO


@dataclass(slots=True)
class Balance:
    """total is what the account owns; locked is reserved for working orders; free = total - locked."""

    account_id: str
    asset: str
    total: Decimal = ZERO
    locked: Decimal = ZERO
    updated_at: int = 0

    def __init__(
        self, account_id: str, asset: str, total: Decimal = ZERO, locked: Decimal = ZERO, updated_at: int = 0
    ) -> None:
        # Written out: compiled, an explicit __init__ is native code and the dataclass one is not
        # (ADR 7; every stored unit copies the balances it changed).
        self.account_id = account_id
        self.asset = asset
        self.total = total
        self.locked = locked
        self.updated_at = updated_at

    def __reduce__(self) -> Reduction:
        return reduce_fields(self)

    @property
    def free(self) -> Decimal:
        return self.total - self.locked


def fill_cash_flows(fill: Fill, base: str, quote: str) -> dict[str, Decimal]:
    """What a spot fill adds to (or takes from) each asset, fee included."""
    flows: dict[str, Decimal] = {}
    if fill.side is OrderSide.BUY:
        flows[base] = fill.quantity
        flows[quote] = -fill.notional
    else:
        flows[base] = -fill.quantity
        flows[quote] = fill.notional
    if fill.fee:
        flows[fill.fee_asset] = flows.get(fill.fee_asset, ZERO) - fill.fee
    return flows


def apply_flows(
    balances: dict[str, Balance], account_id: str, flows: dict[str, Decimal], ts: int
) -> list[Balance]:
    """Apply cash flows atomically: either every balance stays >= 0 or nothing changes."""
    for asset, amount in flows.items():
        current = balances.get(asset)
        total = current.total if current is not None else ZERO
        if total + amount < ZERO:
            raise InsufficientBalance(f"{asset}: balance {total} cannot take {amount}")
    changed: list[Balance] = []
    for asset, amount in flows.items():
        balance = balances.get(asset)
        if balance is None:
            balance = balances[asset] = Balance(account_id, asset)
        balance.total += amount
        balance.updated_at = max(balance.updated_at, ts)
        changed.append(balance)
    return changed
