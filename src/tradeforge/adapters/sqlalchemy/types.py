"""Column types that keep Decimal money and quantities exact on every supported database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


class DecimalType(sa.types.TypeDecorator[Decimal]):
    """Exact Decimal storage: unconstrained NUMERIC on PostgreSQL, plain-notation TEXT elsewhere.

    SQLite's NUMERIC affinity converts through a C double and would lose digits, so values are kept
    as text there. Consequence: on SQLite these columns must not be compared or summed in SQL (text
    ordering is not numeric ordering); repositories only store and load them."""

    impl = sa.Text
    cache_ok = True

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            # No precision/scale: PostgreSQL then keeps any value (and its scale) exactly.
            return dialect.type_descriptor(postgresql.NUMERIC(asdecimal=True))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        decimal = _as_decimal(value)
        if dialect.name == "postgresql":
            return decimal
        # Plain notation ('0.00000001', never '1E-8'), keeping the scale like PostgreSQL does.
        return format(decimal, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            return value
        return Decimal(str(value))


def _as_decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        return Decimal(value)
    # Floats are refused on purpose: a binary fraction must never reach stored money.
    raise TypeError(f"DecimalType accepts Decimal, int or str, not {type(value).__name__}")
