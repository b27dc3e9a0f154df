"""What the risk rules read, assembled from the portfolio's books and the OMS's working orders."""

from __future__ import annotations

from decimal import Decimal

from tradeforge.engine.order_cache import OrderCache
from tradeforge.engine.portfolio import Portfolio


class BooksRiskView:
    """The RiskView of risk_rules over the live books (what the composition root gives the risk
    engine, and the reconciliation gate)."""

    def __init__(self, portfolio: Portfolio, cache: OrderCache) -> None:
        self._portfolio = portfolio
        self.instrument = portfolio.instrument
        self.last_price = portfolio.last_price
        self.position_quantity = portfolio.position_quantity
        self.working_orders = cache.working_for_account

    def available_balance(self, account_id: str, asset: str) -> Decimal:
        return self._portfolio.available_balance(account_id, asset)
