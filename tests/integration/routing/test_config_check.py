"""`tradeforge config check` on live venues: credentials opened, problems named, bad input refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tradeforge.cli.main import app

SECRET = "s3cr3t-never-printed-0123456789"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("TRADEFORGE_")]:
        if name not in ("TRADEFORGE_REQUIRE_SERVICES", "TRADEFORGE_TEST_POSTGRES_ADMIN_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRADEFORGE_DATABASE_URL", f"sqlite:///{tmp_path / 'tradeforge.db'}")
    monkeypatch.setenv("TRADEFORGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "400")
    return CliRunner()


def venues(monkeypatch: pytest.MonkeyPatch, *entries: dict[str, object]) -> None:
    monkeypatch.setenv("TRADEFORGE_VENUES", json.dumps(list(entries)))


def check(cli: CliRunner) -> Result:
    return cli.invoke(app, ["config", "check"], catch_exceptions=False)


def add_credential(cli: CliRunner, venue: str, *flags: str) -> None:
    args = [
        "credentials",
        "add",
        "--venue",
        venue,
        "--label",
        "main",
        "--api-key",
        "AKEY12345678",
        "--secret-stdin",
    ]
    result = cli.invoke(app, [*args, *flags], input=f"{SECRET}\n", catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_a_configured_venue_needs_its_stored_credential(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    venues(monkeypatch, {"name": "binance", "sandbox": True, "credentials": "main"})
    missing = check(cli)
    assert missing.exit_code == 1
    hint = "add it with `tradeforge credentials add --venue binance --label main --sandbox`"
    assert f"no credential binance/main: {hint}" in missing.stderr

    add_credential(cli, "binance", "--sandbox")
    ok = check(cli)
    assert ok.exit_code == 0, ok.output
    assert "SANDBOX, credential binance/main (key AKEY…)" in ok.stdout
    assert "master key" in ok.stdout and "configuration OK" in ok.stdout
    assert SECRET not in ok.output


def test_a_credential_for_the_other_environment_is_a_problem(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_credential(cli, "bybit")  # a live key
    venues(monkeypatch, {"name": "bybit", "sandbox": True}, {"name": "okx", "enabled": False})
    result = check(cli)
    assert result.exit_code == 1
    assert "credential bybit/main is for the live venue, the setting says sandbox" in result.stderr
    assert "disabled (enabled = false)" in result.stdout


def test_a_bad_transport_override_is_named(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEFORGE_CCXT_RESOLVE", "api.binance.com=127.0.0.1:9")
    result = check(cli)
    assert result.exit_code == 1
    assert "set both TRADEFORGE_CCXT_RESOLVE and TRADEFORGE_CCXT_CA_FILE" in result.stderr


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"name": "kraken"}], "kraken has no spot sandbox or testnet; set sandbox = false to trade live"),
        ([{"name": "ftx", "sandbox": False}], "FTX is not supported: the exchange closed in November 2022"),
        ([{"name": "okx"}, {"name": "OKX"}], "venue okx is configured twice"),
        ([{"name": "binance", "api_key": "x"}], "`venues[0].api_key`"),
    ],
)
def test_invalid_venue_settings_are_refused(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, entries: list[dict[str, object]], message: str
) -> None:
    venues(monkeypatch, *entries)
    result = check(cli)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
