"""In-memory order state: working orders, recently finished ones, and the client_order_id index."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from tradeforge.domain.orders import Order


class OrderCache:
    """Working orders are held until terminal; finished orders stay in a bounded LRU so reads of
    fresh results do not hit the database. The client_order_id index covers every order ever
    stored, which is what lets the OMS refuse a duplicate without a database round trip."""

    def __init__(self, recent_capacity: int = 10_000) -> None:
        self._working: dict[str, Order] = {}
        self._by_account: dict[str, dict[str, Order]] = {}
        self._recent: OrderedDict[str, Order] = OrderedDict()
        self._recent_capacity = recent_capacity
        self._client_index: dict[tuple[str, str], str] = {}
        self._excluded: str | None = None

    def load_index(self, entries: Iterable[tuple[str, str, str]]) -> None:
        for account_id, client_order_id, order_id in entries:
            self._client_index[(account_id, client_order_id)] = order_id

    def add(self, order: Order) -> None:
        self._client_index[(order.account_id, order.client_order_id)] = order.id
        if order.is_working:
            self._working[order.id] = order
            self._by_account.setdefault(order.account_id, {})[order.id] = order
        else:
            self._remember(order)

    def retire(self, order: Order) -> None:
        """Move an order that became terminal out of the working set."""
        if self._working.pop(order.id, None) is not None:
            self._by_account[order.account_id].pop(order.id, None)
        self._remember(order)

    def _remember(self, order: Order) -> None:
        self._recent[order.id] = order
        self._recent.move_to_end(order.id)
        while len(self._recent) > self._recent_capacity:
            self._recent.popitem(last=False)

    def order_id_for(self, account_id: str, client_order_id: str) -> str | None:
        return self._client_index.get((account_id, client_order_id))

    def get(self, order_id: str) -> Order | None:
        return self._working.get(order_id) or self._recent.get(order_id)

    def working(self, order_id: str) -> Order | None:
        return self._working.get(order_id)

    def working_for_account(self, account_id: str) -> list[Order]:
        orders = self._by_account.get(account_id)
        if not orders:
            return []
        if self._excluded is None:
            return list(orders.values())
        return [o for o in orders.values() if o.id != self._excluded]

    def all_working(self) -> list[Order]:
        return list(self._working.values())

    def exclude(self, order_id: str | None) -> None:
        """Hide one working order from risk views while its own amendment is checked."""
        self._excluded = order_id
