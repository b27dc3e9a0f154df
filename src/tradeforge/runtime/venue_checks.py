"""`tradeforge config check` for live venues: each venue's credential, the master key, the transport override.

Nothing connects to an exchange and nothing is written: the database is only read (no migration),
and a stored credential is opened with the master key to prove the key fits, never shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradeforge.runtime.settings import Settings

CheckRow = tuple[str, bool, str]


def check_venues(settings: Settings, environ: Mapping[str, str] | None = None) -> list[CheckRow]:
    """(check, ok, detail) rows for `settings.venues`; problems make `config check` fail."""
    from tradeforge.adapters.ccxt.override import transport_override_from_env
    from tradeforge.domain.errors import TradeForgeError, ValidationError
    from tradeforge.security.secrets import MasterKey, MasterKeySource

    env = dict(os.environ) if environ is None else dict(environ)
    rows: list[CheckRow] = []
    try:
        override = transport_override_from_env(env)
    except ValidationError as error:
        rows.append(("ccxt transport override", False, f"{error.field}: {error.message}"))
        override = None
    if override is not None:
        rows.append(("ccxt transport override", True, f"TEST/DEV ONLY, active: {override.describe()}"))
    enabled = [item for item in settings.venues if item.enabled]
    for item in settings.venues:
        if not item.enabled:
            rows.append((f"venue {item.name}", True, "disabled (enabled = false)"))
    if not enabled:
        if not settings.venues:
            rows.append(("venues", True, "none: every order goes to the paper venue"))
        return rows
    key: MasterKey | None = None
    try:
        key = MasterKeySource(settings.var_dir, env).load()
        rows.append(("master key", True, f"{key.fingerprint} ({key.origin})"))
    except TradeForgeError as error:
        rows.append(("master key", False, str(error)))
    records = _stored_credentials(settings, [(item.name, item.credentials) for item in enabled])
    default_symbols = [instrument.symbol for instrument in settings.instruments]
    for item in enabled:
        label = f"venue {item.name}"
        ref = f"{item.name}/{item.credentials}"
        record = records.get((item.name, item.credentials))
        if isinstance(record, str):
            rows.append((label, False, record))
            continue
        if record is None:
            flag = " --sandbox" if item.sandbox else ""
            rows.append(
                (
                    label,
                    False,
                    f"no credential {ref}: add it with `tradeforge credentials add --venue {item.name} "
                    f"--label {item.credentials}{flag}`",
                )
            )
            continue
        if record.sandbox != item.sandbox:
            rows.append(
                (
                    label,
                    False,
                    f"credential {ref} is for the {_env(record.sandbox)} venue, the setting says "
                    f"{_env(item.sandbox)}",
                )
            )
            continue
        if key is not None:
            problem = _opens(key, record)
            if problem is not None:
                rows.append((label, False, problem))
                continue
        bad = [symbol for symbol in item.symbols if not _is_symbol(symbol)]
        if bad:
            rows.append((label, False, f"venues.{item.name}.symbols: not a unified symbol: {', '.join(bad)}"))
            continue
        symbols = ", ".join(item.symbols or default_symbols)
        rows.append(
            (
                label,
                True,
                f"{_env(item.sandbox).upper()}, credential {ref} (key {record.api_key_masked}), "
                f"symbols {symbols}, breaker {item.breaker_failure_threshold} failures / "
                f"{item.breaker_cool_down_s:g} s",
            )
        )
    return rows


def _stored_credentials(settings: Settings, refs: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The stored record per (venue, label), None when absent, or the text of why it cannot be read."""
    from tradeforge.adapters.sqlalchemy.database import make_engine
    from tradeforge.adapters.sqlalchemy.uow import SqlAlchemyUnitOfWorkFactory
    from tradeforge.security.credentials import credential_repository

    path = _sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        return dict.fromkeys(refs)  # no database yet: nothing is stored
    try:
        engine = make_engine(settings.database_url)
    except Exception as error:  # a bad URL is reported by the database check too
        return dict.fromkeys(refs, f"cannot open the database: {error}")
    found: dict[tuple[str, str], Any] = {}
    try:
        with SqlAlchemyUnitOfWorkFactory(engine)() as uow:
            repository = credential_repository(uow)
            for venue, label in refs:
                found[(venue, label)] = repository.find(venue, label)
    except Exception as error:  # missing table (schema not migrated), unreachable server
        text = " ".join(str(getattr(error, "orig", None) or error).split())[:200]
        return dict.fromkeys(refs, f"cannot read stored credentials: {text}")
    finally:
        engine.dispose()
    return found


def _sqlite_file(url: str) -> Path | None:
    """A file-backed SQLite database's path (reading a missing one would create it)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database).expanduser()


def _opens(key: Any, record: Any) -> str | None:
    from tradeforge.security.credentials import open_record
    from tradeforge.security.secrets import MasterKeyError

    try:
        open_record(key, record)
    except MasterKeyError as error:
        return str(error)
    return None


def _is_symbol(text: str) -> bool:
    from tradeforge.domain.errors import ValidationError
    from tradeforge.domain.identifiers import Symbol

    try:
        Symbol.parse(text)
    except ValidationError:
        return False
    return True


def _env(sandbox: bool) -> str:
    return "sandbox" if sandbox else "live"
