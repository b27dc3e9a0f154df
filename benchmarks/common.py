"""Shared benchmark helpers: throwaway databases, sample bars, table printing."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
console = Console()


@contextlib.contextmanager
def database(backend: str, workdir: Path) -> Iterator[str | None]:
    """A fresh SQLite file or PostgreSQL database; yields None when PostgreSQL is unreachable."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    import psycopg

    name = f"tradeforge_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        console.print(f"[yellow]PostgreSQL unavailable, skipped: {error}[/]")
        yield None
        return
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def show(title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)
