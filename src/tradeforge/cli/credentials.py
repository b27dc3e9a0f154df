"""`tradeforge credentials`: exchange API credentials, sealed in the database (add, list, rotate, delete).

Secrets are read from stdin (--secret-stdin) or a prompt with hidden input, never from the command line,
so they stay out of shell history and `ps`. Nothing printed ever carries more than a masked API key.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from tradeforge.cli.common import (
    console,
    database_engine,
    database_error,
    fail,
    iso_ms,
    load_settings,
    migrate_or_check,
)

if TYPE_CHECKING:
    from tradeforge.runtime.settings import Settings
    from tradeforge.security.credentials import CredentialInfo, CredentialService

app = typer.Typer(
    help=(
        "Exchange API credentials, stored encrypted (AES-256-GCM) in the database of "
        "TRADEFORGE_DATABASE_URL. The master key comes from TRADEFORGE_MASTER_KEY or var/master.key "
        "(created 0600 by the first `add`). Secrets are read from stdin or a hidden prompt, never from "
        "arguments, and are never shown again."
    ),
    no_args_is_help=True,
)

Ref = Annotated[
    str,
    typer.Argument(help="The credential: its id (as `list` shows it) or VENUE/LABEL, e.g. binance/main."),
]
SecretStdin = Annotated[
    bool,
    typer.Option(
        "--secret-stdin",
        help="Read the secret from the first line of stdin (and the passphrase, where the venue has one, "
        "from the second) instead of prompting.",
    ),
]


def actor() -> str:
    """How CLI changes are attributed in the audit log: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def credential_service(settings: Settings) -> Iterator[CredentialService]:
    """The credential service straight on the database, translating every expected error into one line."""
    from sqlalchemy.exc import SQLAlchemyError

    from tradeforge.adapters.clocks import WallClock
    from tradeforge.adapters.sqlalchemy.uow import SqlAlchemyUnitOfWorkFactory
    from tradeforge.domain.errors import TradeForgeError, ValidationError
    from tradeforge.security.credentials import CredentialService
    from tradeforge.security.secrets import MasterKeySource

    with console(stderr=True).status("opening the database ..."):
        migrate_or_check(settings)
    with database_engine(settings) as engine:
        service = CredentialService(
            SqlAlchemyUnitOfWorkFactory(engine), WallClock(), MasterKeySource(settings.var_dir)
        )
        try:
            yield service
        except ValidationError as error:
            fail(f"{error.field}: {error.message}")
        except TradeForgeError as error:
            fail(str(error))
        except SQLAlchemyError as error:
            database_error(settings.database_url, error)


def _stdin_lines() -> list[str]:
    text = sys.stdin.read()
    return [line.strip() for line in text.splitlines()]


def _read_secrets(from_stdin: bool, ask_passphrase: bool, prompt_prefix: str = "") -> tuple[str, str | None]:
    """(secret, passphrase or None) from stdin lines or hidden prompts."""
    if from_stdin:
        lines = [line for line in _stdin_lines() if line]
        if not lines:
            fail("--secret-stdin: stdin is empty; pipe the secret (and the passphrase on a second line)")
        return lines[0], lines[1] if len(lines) > 1 else None
    secret = typer.prompt(f"{prompt_prefix}API secret", hide_input=True)
    phrase = typer.prompt(f"{prompt_prefix}API passphrase", hide_input=True) if ask_passphrase else None
    return secret, phrase


def _summary(info: CredentialInfo, title: str, extra: dict[str, str] | None = None) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_row("id", info.id)
    grid.add_row("venue", f"{info.venue}{' (sandbox)' if info.sandbox else ''}")
    grid.add_row("label", info.label)
    grid.add_row("api key", info.api_key)
    grid.add_row("passphrase", "stored" if info.has_passphrase else "-")
    grid.add_row("master key", info.key_fingerprint)
    for name, value in (extra or {}).items():
        grid.add_row(name, value)
    return Panel(grid, title=title, expand=False)


@app.command("add")
def add(
    venue: Annotated[str, typer.Option("--venue", help="ccxt exchange id: binance, bybit, okx, kraken, ...")],
    label: Annotated[
        str, typer.Option("--label", help="A name for this key at the venue (1-64 of A-Z a-z 0-9 _ . -).")
    ],
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", help="The API key (public part). Prompted for (hidden) when absent."),
    ] = None,
    secret_stdin: SecretStdin = False,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="The key belongs to the venue's sandbox/testnet.")
    ] = False,
) -> None:
    """Store a venue's API key and secret, encrypted, and record it in the audit log.

    The secret comes from a hidden prompt, or with --secret-stdin from stdin (OKX: the passphrase on a
    second line), e.g. `pass show binance | tradeforge credentials add --venue binance --label main
    --api-key KEY --secret-stdin`. The first credential creates the master key file var/master.key
    (mode 0600) unless TRADEFORGE_MASTER_KEY is set: back it up, the credentials cannot be decrypted
    without it."""
    from tradeforge.security.credentials import venue_rules
    from tradeforge.security.secrets import MasterKeySource

    settings = load_settings()
    with credential_service(settings) as service:
        rules = venue_rules(venue.strip().lower())
        if api_key is None:
            api_key = typer.prompt("API key", hide_input=True)
        secret, phrase = _read_secrets(secret_stdin, rules.requires_passphrase)
        source = MasterKeySource(settings.var_dir)
        had_key = source.exists()
        info = service.add(venue, label, api_key, secret, phrase, sandbox, actor=actor())
    out = console()
    out.print(_summary(info, "credential stored (encrypted)"))
    if not had_key:
        out.print(
            f"created the master key {source.key_file} (mode 0600): back it up; without it the stored "
            "credentials cannot be decrypted",
            markup=False,
        )


@app.command("list")
def list_credentials(
    as_json: Annotated[bool, typer.Option("--json", help="Print raw JSON instead of a table.")] = False,
) -> None:
    """List stored credentials with masked API keys (secrets are never shown).

    Needs no master key. `master key` is the fingerprint of the key each credential is sealed with:
    after a rotation, `rekey` seals the rest with the new one."""
    settings = load_settings()
    with credential_service(settings) as service:
        items = service.list()
    if as_json:
        typer.echo(json.dumps({"items": [info.to_dict() for info in items]}, indent=2))
        return
    table = Table(title=f"Venue credentials ({len(items)})")
    columns = ("id", "venue", "label", "sandbox", "api key", "passphrase", "master key", "created", "rotated")
    for column in columns:
        table.add_column(column, no_wrap=True)
    for i in items:
        table.add_row(
            i.id,
            i.venue,
            i.label,
            "yes" if i.sandbox else "no",
            i.api_key,
            "yes" if i.has_passphrase else "no",
            i.key_fingerprint,
            iso_ms(i.created_at),
            iso_ms(i.rotated_at),
        )
    console().print(table)


@app.command("rotate")
def rotate(
    ref: Ref,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", help="A new API key too (the venue issued a new pair). Default: keep it."),
    ] = None,
    secret_stdin: SecretStdin = False,
    passphrase: Annotated[
        bool,
        typer.Option("--passphrase", help="Prompt for a new passphrase too (with --secret-stdin: line 2)."),
    ] = False,
) -> None:
    """Replace a credential's secret, keeping its id (and its label, so nothing else changes).

    The new secret comes from a hidden prompt or, with --secret-stdin, from stdin. Recorded in the
    audit log with what changed, never the values."""
    settings = load_settings()
    with credential_service(settings) as service:
        service.get(ref)  # an unknown credential fails before anything is asked
        secret, phrase = _read_secrets(secret_stdin, passphrase, "new ")
        info = service.rotate(ref, secret, api_key, phrase, actor=actor())
    console().print(_summary(info, "credential rotated", {"rotated": iso_ms(info.rotated_at)}))


@app.command("delete")
def delete(ref: Ref) -> None:
    """Delete a credential for good (recorded in the audit log)."""
    settings = load_settings()
    with credential_service(settings) as service:
        info = service.delete(ref, actor=actor())
    console().print(f"deleted credential {info.id} ({info.venue}/{info.label}, api key {info.api_key})")


@app.command("rekey")
def rekey(
    new_key: Annotated[
        bool,
        typer.Option(
            "--new-key",
            help="Generate a new master key in var/master.key first (the old one is kept as "
            "master.key.previous until every credential is sealed with the new one).",
        ),
    ] = False,
) -> None:
    """Seal every credential with the current master key (rotation of the master key).

    Key file: `rekey --new-key` makes a new key and re-seals everything in one transaction; an
    interrupted run is finished by `rekey`. Environment variable: put the old key in
    TRADEFORGE_MASTER_KEY_PREVIOUS, the new one in TRADEFORGE_MASTER_KEY, run `rekey`, then drop
    the previous one."""
    from tradeforge.security.secrets import MasterKeySource, finish_rotation, rotate_key_file

    settings = load_settings()
    source = MasterKeySource(settings.var_dir)
    with credential_service(settings) as service:
        key = rotate_key_file(source) if new_key else source.load()
        report = service.rekey(key, actor=actor())
        removed = not source.from_environment and finish_rotation(source)
    out = console()
    out.print(
        f"{report.resealed} credential(s) sealed again, {report.current} already current; "
        f"master key {report.fingerprint} ({key.origin})",
        markup=False,
    )
    if removed:
        out.print(f"removed {source.previous_file}: the previous key is no longer needed", markup=False)
    elif source.from_environment and key.previous:
        out.print("every credential uses the new key: TRADEFORGE_MASTER_KEY_PREVIOUS can go", markup=False)


@app.command("generate-master-key")
def generate_master_key() -> None:
    """Print a new random master key (for TRADEFORGE_MASTER_KEY; store it like a password)."""
    from tradeforge.security.secrets import generate_master_key as generate

    typer.echo(generate())
