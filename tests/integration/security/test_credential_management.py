"""Managing venue credentials: API validation and lifecycle, CLI prompts, rotation of the master key."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from tests.integration.api.harness import api_settings, start_api
from typer.testing import CliRunner, Result

from tradeforge.adapters.sqlalchemy.database import make_engine
from tradeforge.adapters.sqlalchemy.uow import SqlAlchemyUnitOfWorkFactory
from tradeforge.cli.main import app
from tradeforge.security.credentials import load_credentials
from tradeforge.security.secrets import (
    MASTER_KEY_ENV,
    PREVIOUS_KEYS_ENV,
    MasterKey,
    MasterKeySource,
    WrongMasterKey,
    parse_master_key,
)

CREDENTIALS = "/api/v1/credentials"
KEY = "AbCdEfGh0123456789"
SECRET = "s3cr3t-0123456789-abcdef"


def cli(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, ["credentials", *args], input=stdin, catch_exceptions=False)


@pytest.fixture
def var_dir(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in (MASTER_KEY_ENV, PREVIOUS_KEYS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRADEFORGE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("TRADEFORGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "250")
    return tmp_path / "var"


def fingerprints() -> set[str]:
    result = cli("list", "--json")
    assert result.exit_code == 0, result.output
    return {item["master_key"] for item in json.loads(result.stdout)["items"]}


def test_api_refuses_bad_input_by_field_and_manages_the_lifecycle(sqlite_url: str, var_dir: Path) -> None:
    with contextlib.contextmanager(start_api)(api_settings(sqlite_url, var_dir)) as api:
        good = {"venue": "binance", "label": "main", "api_key": KEY, "secret": SECRET}
        cases = [
            ({**good, "venue": "okx"}, "passphrase", "okx API keys come with a passphrase"),
            ({**good, "venue": "nosuchvenue"}, "venue", "not an exchange ccxt knows"),
            ({**good, "venue": "kraken", "sandbox": True}, "sandbox", "kraken has no sandbox"),
            ({**good, "secret": "two words"}, "secret", "must not contain blanks"),
            ({**good, "label": "a/b"}, "body.label", "String should match pattern"),
            ({**good, "extra": 1}, "body.extra", "Extra inputs are not permitted"),
            ({**good, "secret": ""}, "body.secret", "at least 1"),
        ]
        for body, field, message in cases:
            response = api.request("POST", CREDENTIALS, api.admin_key, json=body)
            assert response.status_code == 422, (body, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["errors"][0]["field"] == field and message in problem["errors"][0]["message"]
            assert "two words" not in response.text
        assert api.request("GET", CREDENTIALS, api.admin_key).json()["items"] == []
        assert not (var_dir / "master.key").exists()  # nothing was stored, so no key was made

        created = api.request("POST", CREDENTIALS, api.admin_key, json=good).json()
        assert (var_dir / "master.key").exists()
        assert api.request("GET", f"{CREDENTIALS}/c-unknown", api.admin_key).status_code == 404
        gone = api.request("DELETE", f"{CREDENTIALS}/{created['id']}", api.admin_key)
        assert gone.status_code == 200 and gone.json()["api_key"] == "AbCd…"
        assert api.request("GET", f"{CREDENTIALS}/{created['id']}", api.admin_key).status_code == 404
        missing = api.request(
            "POST", f"{CREDENTIALS}/{created['id']}/rotate", api.admin_key, json={"secret": "x"}
        )
        assert missing.status_code == 404 and missing.json()["status"] == 404
        actions = [e["action"] for e in api.request("GET", "/api/v1/audit", api.admin_key).json()["items"]]
        assert actions[:2] == ["credential.delete", "credential.add"]


def test_cli_prompts_hide_secrets_and_rekey_rotates_the_master_key(
    sqlite_url: str, var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompted = cli("add", "--venue", "binance", "--label", "main", stdin=f"{KEY}\n{SECRET}\n")
    assert prompted.exit_code == 0, prompted.output
    assert "API key:" in prompted.output and "API secret:" in prompted.output
    assert KEY not in prompted.output and SECRET not in prompted.output  # hidden input is not echoed
    assert "created the master key" in " ".join(prompted.stdout.split())
    okx_args = (
        "add",
        "--venue",
        "okx",
        "--label",
        "main",
        "--api-key",
        "OkxKey-0123456789",
        "--secret-stdin",
    )
    okx = cli(*okx_args, stdin="okx-secret-0123456789\nmy pass phrase\n")
    assert okx.exit_code == 0, okx.output
    assert "okx-secret" not in okx.output and "my pass phrase" not in okx.output

    rotated = cli(
        "rotate", "okx/main", "--secret-stdin", "--passphrase", stdin="okx-secret-NEW-000001\nnew phrase\n"
    )
    assert rotated.exit_code == 0, rotated.output
    first_key = MasterKeySource(var_dir, {}).load()
    assert fingerprints() == {first_key.fingerprint}

    rekeyed = cli("rekey", "--new-key")
    assert rekeyed.exit_code == 0, rekeyed.output
    assert "2 credential(s) sealed again, 0 already current" in rekeyed.stdout
    assert not (var_dir / "master.key.previous").exists()
    second_key = MasterKeySource(var_dir, {}).load()
    assert second_key.fingerprint != first_key.fingerprint and fingerprints() == {second_key.fingerprint}

    engine = make_engine(sqlite_url)
    try:
        uow_factory = SqlAlchemyUnitOfWorkFactory(engine)
        loaded = load_credentials(uow_factory, second_key, "okx", "main")
        assert (loaded.secret, loaded.passphrase) == ("okx-secret-NEW-000001", "new phrase")
        assert load_credentials(uow_factory, second_key, "binance", "main").api_key == KEY
        with pytest.raises(WrongMasterKey, match=f"sealed with master key {second_key.fingerprint}"):
            load_credentials(uow_factory, first_key, "binance", "main")

        # The environment route: the old key as previous, a new one as current, then rekey.
        new_text = cli("generate-master-key").stdout.strip()
        parse_master_key(new_text, "generated")
        monkeypatch.setenv(MASTER_KEY_ENV, new_text)
        monkeypatch.setenv(PREVIOUS_KEYS_ENV, (var_dir / "master.key").read_text().strip())
        by_env = cli("rekey")
        assert by_env.exit_code == 0, by_env.output
        assert (
            "2 credential(s) sealed again" in by_env.stdout
            and "TRADEFORGE_MASTER_KEY_PREVIOUS can go" in by_env.stdout
        )
        monkeypatch.delenv(PREVIOUS_KEYS_ENV)
        third_key = MasterKey.from_text(new_text)
        assert fingerprints() == {third_key.fingerprint}
        assert load_credentials(uow_factory, third_key, "binance", "main").secret == SECRET
    finally:
        engine.dispose()

    deleted = cli("delete", "binance/main")
    assert deleted.exit_code == 0 and "deleted credential" in deleted.stdout
    assert cli("delete", "binance/main").exit_code == 1
    assert len(json.loads(cli("list", "--json").stdout)["items"]) == 1
