"""Migrations build exactly the schema of tables.py; engines get the connection settings we rely on."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tradeforge.adapters.sqlalchemy import migrate
from tradeforge.adapters.sqlalchemy.database import make_engine
from tradeforge.adapters.sqlalchemy.tables import metadata

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO / "src" / "tradeforge"


def describe(inspector: sa.Inspector, table: str) -> dict[str, object]:
    """What must match between the migrated database and tables.metadata, as plain values."""
    return {
        "columns": {c["name"]: c["nullable"] for c in inspector.get_columns(table)},
        "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
        "indexes": sorted(
            (i["name"], tuple(i["column_names"]))
            for i in inspector.get_indexes(table)
            if "duplicates_constraint" not in i  # PostgreSQL lists a unique constraint's index too
        ),
        "unique": sorted(
            (u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
        ),
    }


def expected(table: sa.Table) -> dict[str, object]:
    return {
        "columns": {c.name: c.nullable for c in table.columns},
        "primary_key": [c.name for c in table.primary_key.columns],
        "indexes": sorted((str(i.name), tuple(c.name for c in i.columns)) for i in table.indexes),
        "unique": sorted(
            (str(u.name), tuple(c.name for c in u.columns))
            for u in table.constraints
            if isinstance(u, sa.UniqueConstraint)
        ),
    }


def test_upgrade_creates_every_table_as_declared(database_url: str) -> None:
    assert migrate.current_revision(database_url) is None
    migrate.upgrade(database_url)

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            assert set(inspector.get_table_names()) == set(metadata.tables) | {"alembic_version"}
            for name, table in metadata.tables.items():
                assert describe(inspector, name) == expected(table), name
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            if connection.dialect.name == "postgresql":
                # Pagination order must not depend on the server's locale.
                id_column = next(c for c in inspector.get_columns("orders") if c["name"] == "id")
                assert getattr(id_column["type"], "collation", None) == "C"
                numeric = next(c for c in inspector.get_columns("orders") if c["name"] == "quantity")
                assert isinstance(numeric["type"], sa.Numeric) and numeric["type"].precision is None
    finally:
        engine.dispose()
    assert migrate.current_revision(database_url) == migrate.head_revision() == "0002"


def test_upgrading_twice_is_harmless_and_keeps_data(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(metadata.tables["settings"]), [{"key": "kept", "value": "yes"}])
        migrate.upgrade(database_url)
        with engine.connect() as connection:
            value = connection.execute(sa.text("SELECT value FROM settings WHERE key = 'kept'")).scalar()
    finally:
        engine.dispose()
    assert value == "yes"
    assert migrate.current_revision(database_url) == migrate.head_revision()


def test_sqlite_engine_settings(tmp_path: Path) -> None:
    database = tmp_path / "nested" / "dir" / "tradeforge.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 5000
    finally:
        engine.dispose()
    assert database.exists()


def test_sqlite_transactions_cover_reads_and_ddl(sqlite_url: str) -> None:
    """The sqlite3 driver's legacy mode would run DDL and SELECTs outside the transaction."""
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            assert connection.in_transaction()
            connection.rollback()
            assert not sa.inspect(connection).has_table("t")
    finally:
        engine.dispose()


def test_postgresql_urls_use_psycopg_3() -> None:
    for url in ("postgresql://u@127.0.0.1:1/db", "postgresql+psycopg://u@127.0.0.1:1/db"):
        engine = make_engine(url)
        assert engine.dialect.driver == "psycopg"
        assert engine.pool._pre_ping
        engine.dispose()


def test_migration_files_are_shipped_as_package_data() -> None:
    """pyproject's package-data globs must cover every file Alembic needs at run time."""
    import tomllib

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["tradeforge"]
    shipped = {path for pattern in globs for path in SOURCE.glob(pattern)}
    migrations = SOURCE / "adapters" / "sqlalchemy" / "migrations"
    needed = {p for p in migrations.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert {p.name for p in needed} >= {"env.py", "script.py.mako", "0001_initial.py"}
    assert needed <= shipped
