"""Shared machinery of the SQL repositories: cached write statements, driver-level batches, paging."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError

from tradeforge.domain.errors import ValidationError
from tradeforge.ports.persistence import Page

T = TypeVar("T")
Row = sa.Row[Any]

# Keeps IN lists well under SQLite's and PostgreSQL's bound-parameter limits.
IN_CHUNK = 500


# --- statements (built once per dialect; SQLAlchemy then reuses their compiled form) ---------------


def _dialect_insert(dialect: str, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert support for the {dialect!r} dialect")


@cache
def upsert_statement(dialect: str, table: sa.Table) -> sa.Insert:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE every other column."""
    stmt = _dialect_insert(dialect, table)
    keys = [column.name for column in table.primary_key.columns]
    changes = {column.name: stmt.excluded[column.name] for column in table.columns if column.name not in keys}
    return stmt.on_conflict_do_update(index_elements=keys, set_=changes)


@cache
def insert_statement(table: sa.Table) -> sa.Insert:
    return sa.insert(table)


@cache
def _compiled(stmt: sa.Insert, dialect: Dialect) -> tuple[str, tuple[str, ...], bool]:
    """The driver-level SQL of a write statement, its parameter names (in order for positional
    paramstyles) and whether the driver takes them by position."""
    compiled = stmt.compile(dialect=dialect)
    if compiled.positional and compiled.positiontup:
        return compiled.string, tuple(compiled.positiontup), True
    return compiled.string, tuple(compiled.params), False


def _driver_value(value: Any) -> Any:
    # The one conversion DecimalType would have made: SQLite keeps Decimals as plain text.
    return format(value, "f") if type(value) is Decimal else value


@cache
def insert_ignore_statement(dialect: str, table: sa.Table) -> sa.Insert:
    """INSERT ... ON CONFLICT (primary key) DO NOTHING: the first stored row wins."""
    stmt = _dialect_insert(dialect, table)
    return stmt.on_conflict_do_nothing(index_elements=[column.name for column in table.primary_key.columns])


# --- helpers ----------------------------------------------------------------------------------------


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValidationError("limit", "must be at least 1")


def make_page(
    rows: Sequence[Row], limit: int, convert: Callable[[Row], T], key: Callable[[T], str]
) -> Page[T]:
    """rows were fetched with limit + 1: the extra row only tells that another page exists."""
    items = [convert(row) for row in rows[:limit]]
    return Page(items, key(items[-1]) if len(rows) > limit else None)


def duplicate_error(error: IntegrityError, fields: Sequence[str]) -> ValidationError | None:
    """Translate a unique-constraint violation into a ValidationError naming the field at fault.

    fields are tried in order against the driver message (which names the constraint or columns);
    the last one is the fallback. Other integrity errors (e.g. NOT NULL) are not translated."""
    orig = error.orig
    unique = getattr(orig, "sqlstate", None) == "23505" or getattr(orig, "sqlite_errorname", None) in (
        "SQLITE_CONSTRAINT_UNIQUE",
        "SQLITE_CONSTRAINT_PRIMARYKEY",
    )
    if not unique:
        return None
    # PostgreSQL's message may be localized; its constraint name (from our naming convention) is not.
    text = f"{getattr(getattr(orig, 'diag', None), 'constraint_name', None)} {orig}"
    field = next((name for name in fields if name in text), fields[-1])
    return ValidationError(field, f"a record with this {field} already exists")


def chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


class SqlRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        self._dialect = connection.dialect.name

    def _execute_batch(
        self, stmt: sa.Insert, rows: Sequence[dict[str, Any]], fields: Sequence[str] = ()
    ) -> None:
        """executemany at the driver: batches are the hot write path (every order, fill and event),
        and SQLAlchemy's per-row parameter processing would cost more than the database does."""
        connection = self._connection
        sql, names, positional = _compiled(stmt, connection.dialect)
        if positional:
            params: list[Any] = [tuple([_driver_value(row.get(name)) for name in names]) for row in rows]
        elif self._dialect == "sqlite":
            params = [{name: _driver_value(row.get(name)) for name in names} for row in rows]
        else:
            params = [{name: row.get(name) for name in names} for row in rows]
        try:
            connection.exec_driver_sql(sql, params)
        except IntegrityError as error:
            translated = duplicate_error(error, fields)
            if translated is None:
                raise
            raise translated from error
