"""Engine construction: SQLite tuned for a single-writer service, PostgreSQL through psycopg 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url

SQLITE_BUSY_TIMEOUT_MS = 5000


def normalize_url(url: str | URL) -> URL:
    """Pick psycopg 3 for plain PostgreSQL URLs (SQLAlchemy would default to psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> sa.Engine:
    """Build an engine for a SQLite or PostgreSQL URL; extra keyword arguments go to create_engine."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **kwargs)


def _sqlite_engine(url: URL, **kwargs: Any) -> sa.Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    # A committer thread writes through connections the pool handed out on other threads.
    connect_args.setdefault("check_same_thread", False)
    engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # sqlite3's legacy mode only opens a transaction before DML, so SELECTs and DDL would run outside
    # the unit of work's transaction; we switch that off and emit BEGIN ourselves (see below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers (API, dashboard) never block the committer and it never blocks them.
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL skips the fsync at each commit: a committed transaction survives a crash
        # of the process (the WAL is in the OS page cache), but a power loss or OS crash may roll back
        # the last transactions before the next checkpoint. The database itself never corrupts. FULL
        # would close that window at the price of one fsync per commit batch.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: sa.Connection) -> None:
    # Deferred BEGIN: read-only units of work take no write lock; a writer waits up to busy_timeout.
    connection.exec_driver_sql("BEGIN")
