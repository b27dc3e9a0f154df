"""Paper venue balances: per account and asset a total and the part locked for working orders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from tradeforge.domain.balances import Balance, apply_flows
from tradeforge.domain.errors import InsufficientBalance
from tradeforge.domain.values import ZERO


class AccountBook:
    """The venue's ledger. Invariants: total >= 0 and 0 <= locked <= total for every balance.

    Callers size reservations with `free` first; `lock` refuses (raises) anything that would break
    the invariant, so a bug shows up as an error rather than as a silently overdrawn account."""

    def __init__(self, starting: Mapping[str, Mapping[str, Decimal]] | None = None) -> None:
        self._accounts: dict[str, dict[str, Balance]] = {}
        for account_id, assets in (starting or {}).items():
            self.replace(account_id, assets)

    def replace(self, account_id: str, totals: Mapping[str, Decimal], ts: int = 0) -> None:
        """Set an account's totals (nothing locked); used at start and on restore."""
        balances: dict[str, Balance] = {}
        for asset, total in totals.items():
            if total < ZERO:
                raise InsufficientBalance(f"{account_id} {asset}: a balance cannot start negative ({total})")
            balances[asset] = Balance(account_id, asset, Decimal(total), ZERO, ts)
        self._accounts[account_id] = balances

    def free(self, account_id: str, asset: str) -> Decimal:
        balance = self._accounts.get(account_id, {}).get(asset)
        return ZERO if balance is None else balance.total - balance.locked

    def lock(self, account_id: str, asset: str, amount: Decimal, ts: int) -> None:
        if amount == ZERO:
            return
        balance = self._balance(account_id, asset)
        if amount < ZERO or amount > balance.total - balance.locked:
            raise InsufficientBalance(
                f"{account_id} {asset}: cannot lock {amount}, free {balance.total - balance.locked}"
            )
        balance.locked += amount
        balance.updated_at = max(balance.updated_at, ts)

    def unlock(self, account_id: str, asset: str, amount: Decimal, ts: int) -> None:
        if amount == ZERO:
            return
        balance = self._balance(account_id, asset)
        if amount < ZERO or amount > balance.locked:
            raise InsufficientBalance(
                f"{account_id} {asset}: cannot unlock {amount}, locked {balance.locked}"
            )
        balance.locked -= amount
        balance.updated_at = max(balance.updated_at, ts)

    def apply(self, account_id: str, flows: dict[str, Decimal], ts: int) -> None:
        """Book a fill's cash flows; all or nothing, and never below what stays locked."""
        balances = self._accounts.get(account_id)
        if balances is None:
            balances = self._accounts[account_id] = {}
        for asset, amount in flows.items():
            balance = balances.get(asset)
            if balance is not None and amount < ZERO and balance.total + amount < balance.locked:
                raise InsufficientBalance(
                    f"{account_id} {asset}: {amount} would dip into the {balance.locked} locked"
                )
        apply_flows(balances, account_id, flows, ts)

    def snapshot(self, account_id: str) -> list[Balance]:
        """Copies, sorted by asset, so callers cannot change the ledger."""
        balances = self._accounts.get(account_id, {})
        return [
            Balance(b.account_id, b.asset, b.total, b.locked, b.updated_at)
            for _, b in sorted(balances.items())
        ]

    def accounts(self) -> Iterable[str]:
        return self._accounts.keys()

    def _balance(self, account_id: str, asset: str) -> Balance:
        balances = self._accounts.setdefault(account_id, {})
        balance = balances.get(asset)
        if balance is None:
            balance = balances[asset] = Balance(account_id, asset)
        return balance
