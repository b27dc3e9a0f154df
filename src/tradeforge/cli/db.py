"""`tradeforge db`: bring the database schema up to date and show its revision."""

from __future__ import annotations

from typing import Annotated

import typer

from tradeforge.cli.common import console, database_error, load_settings, mask_url, sqlite_file

app = typer.Typer(
    help=(
        "Database schema (Alembic migrations shipped with TradeForge) on TRADEFORGE_DATABASE_URL "
        "(default sqlite:///var/tradeforge.db; sqlite or postgresql)."
    ),
    no_args_is_help=True,
)


@app.command("upgrade")
def upgrade(
    revision: Annotated[
        str, typer.Option("--revision", help="Target revision. Default: head (the newest shipped).")
    ] = "head",
) -> None:
    """Apply every pending migration and print the revision reached.

    Works on TRADEFORGE_DATABASE_URL (default sqlite:///var/tradeforge.db); migrations run in one
    transaction where the database allows. Safe to run repeatedly; the
    service also does this on start unless TRADEFORGE_AUTO_MIGRATE=false."""
    from sqlalchemy.exc import SQLAlchemyError

    from tradeforge.adapters.sqlalchemy import migrate

    settings = load_settings()
    url = settings.database_url
    out = console()
    try:
        before = migrate.current_revision(url)
        # The spinner goes to stderr: stdout keeps only the result line.
        with console(stderr=True).status(f"upgrading {mask_url(url)} to {revision} ..."):
            migrate.upgrade(url, revision)
        after = migrate.current_revision(url)
    except SQLAlchemyError as error:
        database_error(url, error)
    if before == after:
        out.print(f"database {mask_url(url)} already at revision {after}", markup=False)
    else:
        out.print(
            f"database {mask_url(url)} upgraded from {before or 'empty'} to revision {after}", markup=False
        )


@app.command("current")
def current() -> None:
    """Print the database's schema revision and whether it is the newest this version ships.

    Reads TRADEFORGE_DATABASE_URL (default sqlite:///var/tradeforge.db). Exits 1 when the database
    is behind (run `tradeforge db upgrade`) or does not exist yet."""
    from sqlalchemy.exc import SQLAlchemyError

    from tradeforge.adapters.sqlalchemy import migrate

    settings = load_settings()
    url = settings.database_url
    path = sqlite_file(url)
    if path is not None and not path.exists():
        console().print(
            f"no database yet at {path} (the service creates it on start, or run `tradeforge db upgrade`)",
            markup=False,
        )
        raise typer.Exit(1)
    try:
        revision = migrate.current_revision(url)
    except SQLAlchemyError as error:
        database_error(url, error)
    head = migrate.head_revision()
    out = console()
    if revision == head:
        out.print(f"database {mask_url(url)} at revision {revision} (up to date)", markup=False)
        return
    out.print(
        f"database {mask_url(url)} at revision {revision or 'none'}; newest is {head}: "
        "run `tradeforge db upgrade`",
        markup=False,
    )
    raise typer.Exit(1)
