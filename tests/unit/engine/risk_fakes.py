"""Fakes of the risk engine's ports (clock, risk view) shared by the risk test modules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from tradeforge.domain.errors import UnknownInstrument
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order


class FakeClock:
    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


class FakeView:
    """RiskView fake over plain dictionaries; subclasses name their instruments."""

    instruments: Mapping[str, Instrument] = {}

    def __init__(
        self,
        *,
        prices: dict[str, Decimal] | None = None,
        positions: dict[str, Decimal] | None = None,
        balances: dict[str, Decimal] | None = None,
        working: Sequence[Order] = (),
    ) -> None:
        self.prices = prices or {}
        self.positions = positions or {}
        self.balances = balances or {}
        self.working = list(working)

    def instrument(self, symbol: str) -> Instrument:
        try:
            return self.instruments[symbol]
        except KeyError:
            raise UnknownInstrument(symbol) from None

    def last_price(self, symbol: str) -> Decimal | None:
        return self.prices.get(symbol)

    def position_quantity(self, account_id: str, symbol: str) -> Decimal:
        return self.positions.get(symbol, Decimal(0))

    def working_orders(self, account_id: str) -> Sequence[Order]:
        return [order for order in self.working if order.account_id == account_id]

    def available_balance(self, account_id: str, asset: str) -> Decimal:
        return self.balances.get(asset, Decimal(0))
