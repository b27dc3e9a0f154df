"""`tradeforge keys`: create, list and revoke API keys directly in the database (also while serving)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from tradeforge.cli.common import api_key_service, console, fail, iso_ms, load_settings, mask_url

app = typer.Typer(
    help=(
        "Manage API keys straight in the database of TRADEFORGE_DATABASE_URL "
        "(default sqlite:///var/tradeforge.db). Works whether or not the service is running; "
        "a revoked key stops working in the service within about three seconds."
    ),
    no_args_is_help=True,
)


class RoleChoice(StrEnum):
    ADMIN = "admin"
    TRADER = "trader"
    VIEWER = "viewer"


@app.command("create")
def create(
    role: Annotated[
        RoleChoice,
        typer.Option(
            "--role",
            case_sensitive=False,
            help="What the key may do: viewer reads; trader also places and cancels orders; "
            "admin also manages risk, keys and the audit log.",
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", help="A label to recognise the key by (1-64 characters). Default: the role."),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            help="The account the key trades and reads (default: the account_id setting). A live "
            "venue configured with its own account_id is traded with keys of that account.",
        ),
    ] = None,
) -> None:
    """Create an API key and print it once, as the last line of output.

    Works on the database of TRADEFORGE_DATABASE_URL (default sqlite:///var/tradeforge.db), migrating
    it first unless TRADEFORGE_AUTO_MIGRATE=false. A summary comes first and the key alone is the LAST
    line, so
    `KEY=$(tradeforge keys create --role trader | tail -n1)` captures it. Only its hash is stored:
    it cannot be shown again."""
    from tradeforge.domain.errors import ValidationError

    settings = load_settings()
    with api_key_service(settings) as keys:
        try:
            record, secret = keys.create(name or role.value, role.value, actor="cli", account_id=account)
        except ValidationError as error:
            fail(f"{error.field}: {error.message}")
    summary = Table.grid(padding=(0, 2))
    summary.add_row("id", record.id)
    summary.add_row("name", record.name)
    summary.add_row("role", record.role)
    summary.add_row("account", record.account_id)
    summary.add_row("created", iso_ms(record.created_at))
    summary.add_row("database", mask_url(settings.database_url))
    out = console()
    out.print(Panel(summary, title="API key created", expand=False))
    out.print(
        "Store it now, it is shown only once. Use it as `Authorization: Bearer <key>` "
        "or export TRADEFORGE_API_KEY=<key> for the CLI.",
        markup=False,
    )
    # Plain print: no wrapping or styling may touch the one line scripts capture.
    typer.echo(secret)


@app.command("list")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="Print raw JSON instead of a table.")] = False,
) -> None:
    """List every key: id, name, role, created, revoked.

    Reads the database of TRADEFORGE_DATABASE_URL (default sqlite:///var/tradeforge.db). Secrets are
    never stored, so never shown."""
    settings = load_settings()
    with api_key_service(settings) as keys:
        records = keys.list()
    if as_json:
        items = [
            {
                "id": r.id,
                "name": r.name,
                "role": r.role,
                "account_id": r.account_id,
                "created_at": iso_ms(r.created_at),
                "revoked_at": iso_ms(r.revoked_at) if r.revoked_at else None,
            }
            for r in records
        ]
        typer.echo(json.dumps({"items": items}, indent=2))
        return
    table = Table(title=f"API keys ({len(records)})")
    for column in ("id", "name", "role", "created", "revoked"):
        table.add_column(column, no_wrap=column != "name")
    for r in records:
        table.add_row(r.id, r.name, r.role, iso_ms(r.created_at), iso_ms(r.revoked_at))
    console().print(table)


@app.command("revoke")
def revoke(
    key_id: Annotated[
        str, typer.Argument(help="The key's id as shown by `tradeforge keys list` (e.g. k1a2b3c4d5e6).")
    ],
) -> None:
    """Revoke a key for good.

    Works on the database of TRADEFORGE_DATABASE_URL (default sqlite:///var/tradeforge.db). Requests
    using the key are refused from then on (the service notices within about three seconds).
    Revoking an already revoked key changes nothing."""
    settings = load_settings()
    with api_key_service(settings) as keys:
        record = keys.revoke(key_id, actor="cli")
    if record is None:
        fail(f"no key with id {key_id!r} (see `tradeforge keys list`)")
    console().print(f"revoked key {record.id} ({record.name}, {record.role}) at {iso_ms(record.revoked_at)}")
