"""Shared CLI plumbing: consoles, failing with a clear message, loading settings, masking secrets."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    import sqlalchemy as sa
    from pydantic import ValidationError as PydanticValidationError

    from tradeforge.runtime.settings import Settings
    from tradeforge.security.api_keys import ApiKeyService

ENV_PREFIX = "TRADEFORGE_"
# Wide enough that a table piped to a file or grep keeps one row per line.
PIPE_WIDTH = 160
EXIT_ERROR = 1
EXIT_UNREACHABLE = 2
SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "credential", "private")


def console(*, stderr: bool = False) -> Console:
    """A console on the current stdout/stderr (built per call, so test runners can capture it)."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or "COLUMNS" in os.environ else PIPE_WIDTH
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def iso_ms(ms: int | None) -> str:
    """Epoch milliseconds as ISO 8601 UTC ('-' for none)."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print one clear line to stderr and leave with `code` (never a traceback)."""
    # soft_wrap: one logical line, however long, so scripts and logs can grep it.
    console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def env_name(*parts: str) -> str:
    return ENV_PREFIX + "__".join(parts).upper()


def load_settings() -> Settings:
    """Settings from the environment and ./tradeforge.toml; every problem is named, then exit 1."""
    problems = settings_problems()
    if isinstance(problems, list):
        err = console(stderr=True)
        err.print("[bold red]error:[/] invalid settings:")
        for problem in problems:
            err.print(f"  - {problem}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR)
    return problems


def settings_problems() -> Settings | list[str]:
    """The settings, or the list of messages saying what is wrong with them."""
    import tomllib

    from pydantic import ValidationError as PydanticValidationError
    from pydantic_settings import SettingsError

    from tradeforge.runtime.settings import Settings

    try:
        return Settings()
    except PydanticValidationError as error:
        return describe_validation_error(error)
    except tomllib.TOMLDecodeError as error:
        return [f"tradeforge.toml is not valid TOML: {error}"]
    except SettingsError as error:
        cause = f" ({error.__cause__})" if error.__cause__ else ""
        field = re.search(r'field "([^"]+)"', str(error))
        where = env_name(field.group(1)) if field else "settings"
        return [f"{where}: cannot parse the value{cause}; lists and objects are written as JSON"]


def describe_validation_error(error: PydanticValidationError) -> list[str]:
    """One line per error, naming the environment variable (and the tradeforge.toml key) behind it."""
    lines = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        # Leading names map to TRADEFORGE_A__B; list indexes and what follows live inside a JSON value.
        names: list[str] = []
        for part in loc:
            if part.isdigit():
                break
            names.append(part)
        inner = "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in loc[len(names) :])
        where = (env_name(*names) if names else "settings") + inner
        toml_key = ".".join(names)
        if item["type"] == "extra_forbidden":
            # Unknown environment variables are ignored, so an unknown key comes from the file.
            lines.append(f"`{toml_key}{inner}` in tradeforge.toml: unknown setting")
            continue
        shown = "" if is_secret_name(toml_key) else f" (got {_short(item.get('input'))})"
        lines.append(f"{where} (or `{toml_key}` in tradeforge.toml): {item['msg']}{shown}")
    return lines


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def mask_url(url: str) -> str:
    """A database URL with its password replaced by ***; left as is when it is not a URL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    return parsed.render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The file of a file-backed SQLite URL (None for other databases and in-memory SQLite)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


def database_error(url: str, error: Exception) -> NoReturn:
    original = getattr(error, "orig", None) or error
    detail = " ".join(str(original).split())
    fail(f"cannot use the database {mask_url(url)}: {detail}")


def migrate_or_check(settings: Settings) -> str | None:
    """Bring the schema up to date (auto_migrate) or insist it already is; returns the revision."""
    from sqlalchemy.exc import SQLAlchemyError

    from tradeforge.adapters.sqlalchemy.migrate import current_revision, head_revision, upgrade

    url = settings.database_url
    try:
        if settings.auto_migrate:
            upgrade(url)
        revision = current_revision(url)
    except SQLAlchemyError as error:
        database_error(url, error)
    if revision != head_revision():
        fail(
            f"the database {mask_url(url)} is at revision {revision or 'none'}, not {head_revision()}; "
            "run `tradeforge db upgrade` (TRADEFORGE_AUTO_MIGRATE is off)"
        )
    return revision


@contextmanager
def database_engine(settings: Settings) -> Iterator[sa.Engine]:
    from tradeforge.adapters.sqlalchemy.database import make_engine

    engine = make_engine(settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def api_key_service(settings: Settings) -> Iterator[ApiKeyService]:
    """Key management straight on the database: the unit of work and ApiKeyService, no trading system."""
    from sqlalchemy.exc import SQLAlchemyError

    from tradeforge.adapters.clocks import WallClock
    from tradeforge.adapters.sqlalchemy.uow import SqlAlchemyUnitOfWorkFactory
    from tradeforge.security.api_keys import ApiKeyService

    with console(stderr=True).status("opening the database ..."):
        migrate_or_check(settings)
    with database_engine(settings) as engine:
        try:
            yield ApiKeyService(SqlAlchemyUnitOfWorkFactory(engine), WallClock(), settings.account_id)
        except SQLAlchemyError as error:
            database_error(settings.database_url, error)
