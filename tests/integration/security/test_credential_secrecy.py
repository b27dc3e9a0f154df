"""Venue credentials never leak: not in logs (root at DEBUG), API responses, CLI output, the audit log or
the database, while they are added, listed, rotated and used to sign real ccxt requests (SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.exchange_emulator.server import EmulatorConfig
from tests.exchange_emulator.threaded import EmulatorThread
from tests.exchange_emulator.transport import LEAN_CONFIG, loopback_session
from tests.integration.api.harness import Api, api_settings, start_api
from typer.testing import CliRunner, Result

from tradeforge.adapters.sqlalchemy.database import make_engine
from tradeforge.adapters.sqlalchemy.uow import SqlAlchemyUnitOfWorkFactory
from tradeforge.cli.main import app
from tradeforge.observability.logging import configure_logging
from tradeforge.security.credentials import VenueCredentials, load_credentials
from tradeforge.security.secrets import MASTER_KEY_ENV, MasterKeySource, WrongMasterKey, generate_master_key

CREDENTIALS = "/api/v1/credentials"


@contextlib.contextmanager
def debug_logging() -> Iterator[tuple[io.StringIO, list[logging.LogRecord]]]:
    """The service's own log output (configure_logging at DEBUG) and, separately, every raw record."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    raw: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record.raw_message = record.getMessage()  # type: ignore[attr-defined]
            raw.append(record)

    output = io.StringIO()
    try:
        configure_logging("DEBUG")
        ours = next(h for h in root.handlers if getattr(h, "_tradeforge", False))
        assert isinstance(ours, logging.StreamHandler)
        ours.setStream(output)
        root.handlers.insert(0, Keep())  # before the redacting filter rewrites the record
        yield output, raw
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def cli(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, ["credentials", *args], input=stdin, catch_exceptions=False)


def cli_add(venue: str, api_key: str, stdin: str, label: str = "main") -> Result:
    """`credentials add` with the secret (and passphrase) piped in, as a script would."""
    return cli("add", "--venue", venue, "--label", label, "--api-key", api_key, "--secret-stdin", stdin=stdin)


async def balance_with(credentials: VenueCredentials, running: EmulatorThread) -> dict[str, Any]:
    """Sign a private request with the loaded credentials: the emulator verifies the signature."""
    import ccxt.async_support as ccxt_async

    session = loopback_session(running.emulator)
    config = {**{k: dict(v) for k, v in LEAN_CONFIG[credentials.venue].items()}, **credentials.ccxt_config()}
    exchange = getattr(ccxt_async, credentials.venue)(
        {**config, "session": session, "enableRateLimit": False}
    )
    try:
        balance: dict[str, Any] = await exchange.fetch_balance()
        return balance
    finally:
        await exchange.close()
        await session.close()


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI and the API share one database and one var directory (where master.key is created)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    monkeypatch.setenv("TRADEFORGE_DATABASE_URL", database_url)
    monkeypatch.setenv("TRADEFORGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "250")
    return tmp_path / "var"


def test_credentials_stay_secret_through_add_list_rotate_use(
    database_url: str, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    responses: list[httpx.Response] = []
    outputs: list[str] = []

    def call(api: Api, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
        response = api.request(method, path, key, **kwargs)
        responses.append(response)
        return response

    with EmulatorThread(EmulatorConfig(venues=("binance", "okx"))) as running:
        binance = running.emulator.venue("binance").credentials.ccxt_config()
        okx = running.emulator.venue("okx").credentials.ccxt_config()
        first_secret = secrets.token_hex(32)  # replaced by the rotation below
        plaintexts = [binance["apiKey"], binance["secret"], first_secret, okx["apiKey"], okx["secret"]]
        plaintexts.append(okx["password"])
        assert all(len(p) >= 8 for p in plaintexts)

        with (
            debug_logging() as (log, raw),
            contextlib.contextmanager(start_api)(api_settings(database_url, cli_env)) as api,
        ):
            viewer, trader = api.create_key("viewer"), api.create_key("trader")
            body = {"venue": "binance", "label": "main", "api_key": binance["apiKey"], "secret": first_secret}
            for key in (viewer, trader):
                assert call(api, "POST", CREDENTIALS, key, json=body).status_code == 403
                assert call(api, "GET", CREDENTIALS, key).status_code == 403

            created = call(api, "POST", CREDENTIALS, api.admin_key, json=body)
            assert created.status_code == 201, created.text
            item = created.json()
            assert item["api_key"] == binance["apiKey"][:4] + "…" and not item["has_passphrase"]
            assert call(api, "POST", CREDENTIALS, api.admin_key, json=body).status_code == 409
            rotated = call(
                api,
                "POST",
                f"{CREDENTIALS}/{item['id']}/rotate",
                api.admin_key,
                json={"secret": binance["secret"]},
            )
            assert rotated.status_code == 200 and rotated.json()["id"] == item["id"]
            assert rotated.json()["rotated_at"] is not None

            added = cli_add("okx", okx["apiKey"], f"{okx['secret']}\n{okx['password']}\n")
            outputs += [added.output, cli("list").output, cli("list", "--json").output]
            assert added.exit_code == 0, added.output
            listed = call(api, "GET", CREDENTIALS, api.admin_key).json()["items"]
            assert {(i["venue"], i["label"], i["has_passphrase"]) for i in listed} == {
                ("binance", "main", False),
                ("okx", "main", True),
            }
            assert call(api, "GET", f"{CREDENTIALS}/{item['id']}", api.admin_key).status_code == 200

            # Use them: the composition root's loader, then real signed requests through ccxt.
            master = MasterKeySource(cli_env, {}).load()
            engine = make_engine(database_url)
            try:
                uow_factory = SqlAlchemyUnitOfWorkFactory(engine)
                loaded = {v: load_credentials(uow_factory, master, v, "main") for v in ("binance", "okx")}
            finally:
                engine.dispose()
            assert loaded["binance"].ccxt_config() == binance and loaded["okx"].ccxt_config() == okx
            logging.getLogger("tradeforge.test").info("loaded %s and %r", loaded["binance"], loaded["okx"])
            for credentials in loaded.values():
                balance = asyncio.run(balance_with(credentials, running))
                assert balance["total"]["USDT"] == 100000
            for venue in ("binance", "okx"):
                stats = running.emulator.venue(venue).stats
                assert stats.verified >= 1 and stats.rejected == 0

            audit = call(api, "GET", "/api/v1/audit", api.admin_key, params={"limit": 50}).json()["items"]
            changes = [
                (e["action"], e["actor"].split(":")[0]) for e in audit if e["action"].startswith("credential")
            ]
            assert sorted(changes) == [
                ("credential.add", "cli"),
                ("credential.add", "key"),
                ("credential.rotate", "key"),
            ]
            rotation = next(e for e in audit if e["action"] == "credential.rotate")
            assert rotation["target"] == item["id"] and rotation["details"]["changed"] == ["secret"]
            assert rotation["details"]["api_key"] == item["api_key"] and rotation["ts"]

        engine = make_engine(database_url)
        try:
            with engine.connect() as connection:
                rows = [
                    dict(r._mapping) for r in connection.execute(sa.text("SELECT * FROM venue_credentials"))
                ]
        finally:
            engine.dispose()

    assert len(rows) == 2
    for row in rows:
        assert all(
            str(row[c]).startswith(f"v1:{master.fingerprint}:") for c in ("api_key_sealed", "secret_sealed")
        )
    assert rows[0]["passphrase_sealed"] is None or rows[0]["passphrase_sealed"].startswith("v1:")

    logged = log.getvalue()
    assert (
        '"level": "DEBUG"' in logged and '"logger": "ccxt.base.exchange"' in logged
    )  # ccxt's headers were logged
    assert "api_key='" in logged  # the masked credentials line
    seen = {
        "log output": logged,
        "API responses": "\n".join(r.text for r in responses),
        "CLI output": "\n".join(outputs),
        "database rows": repr(rows),
    }
    for where, text in seen.items():
        for plaintext in plaintexts:
            assert plaintext not in text, f"a credential value leaked into the {where}"
    # Unredacted, the records still never carry a secret; keys and the passphrase appear only in ccxt's
    # DEBUG request headers, which the service's log handler redacts (checked above).
    for record in raw:
        message = record.raw_message  # type: ignore[attr-defined]
        assert (
            binance["secret"] not in message and okx["secret"] not in message and first_secret not in message
        )
        if any(p in message for p in (binance["apiKey"], okx["apiKey"], okx["password"])):
            assert record.name.startswith("ccxt"), record.name


def test_a_wrong_master_key_is_a_clear_error_everywhere(
    database_url: str, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = secrets.token_hex(24)
    added = cli_add("binance", "KEYkey0123456789", secret + "\n")
    assert added.exit_code == 0, added.output
    right = MasterKeySource(cli_env, {}).load()
    wrong_text = generate_master_key()
    monkeypatch.setenv(MASTER_KEY_ENV, wrong_text)
    wrong = MasterKeySource(cli_env).load()
    expected = (
        f"cannot decrypt credential binance/main: this value was sealed with master key {right.fingerprint}, "
        f"but the configured key is {wrong.fingerprint} (environment variable {MASTER_KEY_ENV})"
    )

    engine = make_engine(database_url)
    try:
        with pytest.raises(WrongMasterKey) as raised:
            load_credentials(SqlAlchemyUnitOfWorkFactory(engine), wrong, "binance", "main")
        assert expected in str(raised.value)
        assert (
            load_credentials(SqlAlchemyUnitOfWorkFactory(engine), right, "binance", "main").secret == secret
        )
    finally:
        engine.dispose()

    rotated = cli("rotate", "binance/main", "--secret-stdin", stdin="another-secret-0001\n")
    assert rotated.exit_code == 1 and expected in " ".join(rotated.stderr.split())
    refused = cli_add("bybit", "KEYkey0123456789", "s3cr3t-value-0001\n", label="x")
    assert refused.exit_code == 1
    assert f"stored credentials were sealed with master key {right.fingerprint}, which is not configured" in (
        " ".join(refused.stderr.split())
    )
    assert cli("list").exit_code == 0  # listing needs no key

    with contextlib.contextmanager(start_api)(api_settings(database_url, cli_env)) as api:
        item = api.request("GET", CREDENTIALS, api.admin_key).json()["items"][0]
        response = api.request(
            "POST", f"{CREDENTIALS}/{item['id']}/rotate", api.admin_key, json={"secret": "abc"}
        )
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert expected in response.json()["detail"]
        assert secret not in response.text and wrong_text not in response.text
