"""The local CLI commands (keys, db, config, help) on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tradeforge.adapters.clocks import WallClock
from tradeforge.adapters.sqlalchemy.database import make_engine
from tradeforge.adapters.sqlalchemy.migrate import head_revision
from tradeforge.adapters.sqlalchemy.uow import SqlAlchemyUnitOfWorkFactory
from tradeforge.cli.main import app
from tradeforge.ports.persistence import ApiKeyRecord
from tradeforge.security.api_keys import ApiKeyService


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean working directory (no tradeforge.toml) and settings pointing into tmp_path."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("TRADEFORGE_")]:
        if name not in ("TRADEFORGE_REQUIRE_SERVICES", "TRADEFORGE_TEST_POSTGRES_ADMIN_URL"):
            monkeypatch.delenv(name)
    url = f"sqlite:///{tmp_path / 'db' / 'tradeforge.db'}"
    monkeypatch.setenv("TRADEFORGE_DATABASE_URL", url)
    monkeypatch.setenv("TRADEFORGE_VAR_DIR", str(tmp_path / "var"))
    # Tables are as wide as the terminal; a wide one keeps each row (and tmp paths) on one line.
    monkeypatch.setenv("COLUMNS", "300")
    return url


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def authenticate(url: str, secret: str) -> ApiKeyRecord | None:
    engine = make_engine(url)
    try:
        # A fresh service each time: no cache shared with the CLI process state.
        return ApiKeyService(SqlAlchemyUnitOfWorkFactory(engine), WallClock(), "main").authenticate(secret)
    finally:
        engine.dispose()


def create_key(runner: CliRunner, role: str, name: str | None = None) -> tuple[str, Result]:
    args = ["keys", "create", "--role", role] + (["--name", name] if name else [])
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[-1], result


# --- keys ------------------------------------------------------------------------------------------


def test_keys_create_prints_the_key_as_last_line_and_it_authenticates(
    runner: CliRunner, local_env: str
) -> None:
    secret, result = create_key(runner, "trader", "bot-1")

    assert secret.startswith("tf_k") and " " not in secret
    assert "API key created" in result.stdout
    record = authenticate(local_env, secret)
    assert record is not None
    assert (record.role, record.name, record.account_id) == ("trader", "bot-1", "main")
    assert record.id in result.stdout


def test_keys_create_defaults_the_name_to_the_role_and_refuses_bad_input(
    runner: CliRunner, local_env: str
) -> None:
    secret, _ = create_key(runner, "viewer")
    record = authenticate(local_env, secret)
    assert record is not None and record.name == "viewer" and record.role == "viewer"

    too_long = invoke(runner, "keys", "create", "--role", "admin", "--name", "x" * 65)
    assert too_long.exit_code == 1
    assert "name: must be 1-64 characters" in too_long.stderr

    bad_role = invoke(runner, "keys", "create", "--role", "root")
    assert bad_role.exit_code == 2
    assert "root" in bad_role.output

    other = invoke(runner, "keys", "create", "--role", "trader", "--account", "okx-acct")
    assert other.exit_code == 0, other.output
    record = authenticate(local_env, other.stdout.splitlines()[-1])
    assert record is not None and record.account_id == "okx-acct"
    bad_account = invoke(runner, "keys", "create", "--role", "trader", "--account", "no spaces")
    assert bad_account.exit_code == 1 and "account_id: must be 1-32" in bad_account.stderr


def test_keys_list_shows_keys_but_never_their_secrets(runner: CliRunner, local_env: str) -> None:
    secrets = [create_key(runner, role, f"{role}-key")[0] for role in ("admin", "trader")]

    table = invoke(runner, "keys", "list")
    raw = invoke(runner, "keys", "list", "--json")

    assert table.exit_code == 0 and raw.exit_code == 0
    items = json.loads(raw.stdout)["items"]
    assert [(i["name"], i["role"], i["revoked_at"]) for i in items] == [
        ("admin-key", "admin", None),
        ("trader-key", "trader", None),
    ]
    for item in items:
        assert item["id"] in table.stdout
    assert "admin-key" in table.stdout and "trader-key" in table.stdout
    for secret in secrets:
        random_part = secret.split("_", 2)[2]  # tf_<id>_<token>; the token itself may contain "_"
        assert random_part not in table.output and random_part not in raw.output
        assert "key_hash" not in raw.output


def test_keys_revoke_makes_authentication_fail(runner: CliRunner, local_env: str) -> None:
    secret, _ = create_key(runner, "trader")
    record = authenticate(local_env, secret)
    assert record is not None

    revoked = invoke(runner, "keys", "revoke", record.id)

    assert revoked.exit_code == 0, revoked.output
    assert f"revoked key {record.id}" in revoked.stdout
    assert authenticate(local_env, secret) is None
    items = json.loads(invoke(runner, "keys", "list", "--json").stdout)["items"]
    assert items[0]["id"] == record.id and items[0]["revoked_at"] is not None


def test_keys_revoke_of_an_unknown_id_fails_clearly(runner: CliRunner, local_env: str) -> None:
    result = invoke(runner, "keys", "revoke", "knope")

    assert result.exit_code == 1
    assert "no key with id 'knope'" in result.stderr


@pytest.mark.postgres
def test_keys_create_and_revoke_on_postgresql(
    runner: CliRunner, local_env: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEFORGE_DATABASE_URL", postgres_url)

    secret, result = create_key(runner, "trader", "pg-bot")

    record = authenticate(postgres_url, secret)
    assert record is not None and record.role == "trader" and record.name == "pg-bot"
    assert "postgresql" in result.stdout
    assert invoke(runner, "keys", "revoke", record.id).exit_code == 0
    assert authenticate(postgres_url, secret) is None


# --- db --------------------------------------------------------------------------------------------


def test_db_upgrade_then_current(runner: CliRunner, local_env: str, tmp_path: Path) -> None:
    before = invoke(runner, "db", "current")
    assert before.exit_code == 1
    assert "no database yet" in before.stdout
    assert not (tmp_path / "db" / "tradeforge.db").exists()

    upgraded = invoke(runner, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert f"upgraded from empty to revision {head_revision()}" in upgraded.stdout

    current = invoke(runner, "db", "current")
    assert current.exit_code == 0
    assert f"at revision {head_revision()} (up to date)" in current.stdout

    again = invoke(runner, "db", "upgrade")
    assert again.exit_code == 0
    assert f"already at revision {head_revision()}" in again.stdout


def test_db_upgrade_reports_an_unreachable_database(
    runner: CliRunner, local_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEFORGE_DATABASE_URL", f"postgresql://tf:hunter2@127.0.0.1:{free_port()}/nothing")

    result = invoke(runner, "db", "upgrade")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot use the database postgresql://tf:***@127.0.0.1:")
    assert "Connection refused" in result.stderr
    assert "hunter2" not in result.output


# --- config check ------------------------------------------------------------------------------------


def test_config_check_passes_on_defaults_without_creating_anything(
    runner: CliRunner, local_env: str, tmp_path: Path
) -> None:
    result = invoke(runner, "config", "check")

    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.stdout
    for name in ("TRADEFORGE_DATABASE_URL", "TRADEFORGE_PORT", "TRADEFORGE_PAPER__SLIPPAGE_BPS", "BTC/USDT"):
        assert name in result.stdout
    assert "feed BTC/USDT 1m" in result.stdout and "first bar at" in result.stdout
    assert not (tmp_path / "db").exists() and not (tmp_path / "var").exists()


def test_config_check_on_a_migrated_database(runner: CliRunner, local_env: str) -> None:
    assert invoke(runner, "db", "upgrade").exit_code == 0

    result = invoke(runner, "config", "check")

    assert result.exit_code == 0, result.output
    assert f"schema at {head_revision()} (up to date)" in result.stdout


def test_config_check_names_a_missing_feed_file(
    runner: CliRunner, local_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere" / "ETHUSDT.parquet"
    feeds = [{"symbol": "ETH/USDT", "path": str(missing)}]
    monkeypatch.setenv("TRADEFORGE_FEEDS", json.dumps(feeds))

    result = invoke(runner, "config", "check")

    assert result.exit_code == 1
    errors = " ".join(result.stderr.split())
    assert "configuration has 1 problem(s)" in errors
    assert f"feed ETH/USDT 1m: file not found: {missing}" in errors
    assert "Traceback" not in result.output


def test_config_check_names_bad_strategies(
    runner: CliRunner, local_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    strategies = [
        {"id": "ok", "name": "sma_cross", "symbols": ["BTC/USDT"], "params": {"quantity": "0.01"}},
        {"id": "no-name", "name": "no_such_strategy", "symbols": ["BTC/USDT"]},
        {"id": "bad-param", "name": "sma_cross", "symbols": ["BTC/USDT"], "params": {"fst": 1}},
        {"id": "bad-symbol", "name": "sma_cross", "symbols": ["DOGE/USDT"]},
    ]
    monkeypatch.setenv("TRADEFORGE_STRATEGIES", json.dumps(strategies))

    result = invoke(runner, "config", "check")

    assert result.exit_code == 1
    errors = " ".join(result.stderr.split())
    assert "configuration has 3 problem(s)" in errors
    assert "strategy no-name: TRADEFORGE_STRATEGIES[1].name: unknown strategy 'no_such_strategy'" in errors
    assert "strategy bad-param: TRADEFORGE_STRATEGIES[2].params.fst: unknown parameter" in errors
    assert "strategy bad-symbol: TRADEFORGE_STRATEGIES[3].symbols: not an instrument: DOGE/USDT" in errors


def test_config_check_lists_every_problem(
    runner: CliRunner, local_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad_csv = tmp_path / "bars.csv"
    bad_csv.write_text("timestamp,open,close\n1,2,3\n")
    monkeypatch.setenv(
        "TRADEFORGE_FEEDS",
        json.dumps(
            [
                {"symbol": "BTC/USDT", "path": str(bad_csv)},
                {"symbol": "SOL/USDT", "path": str(bad_csv)},
            ]
        ),
    )
    monkeypatch.setenv(
        "TRADEFORGE_INSTRUMENTS",
        json.dumps(
            [
                {"symbol": "BTC/USDT", "tick_size": "0.01", "lot_size": "0.00001"},
                {"symbol": "ETH/USDT", "tick_size": "0", "lot_size": "0.0001"},
            ]
        ),
    )
    monkeypatch.setenv("TRADEFORGE_RISK", json.dumps({"max_open_orderz": 3}))

    result = invoke(runner, "config", "check")

    assert result.exit_code == 1
    errors = " ".join(result.stderr.split())
    assert "configuration has 4 problem(s)" in errors
    assert "instrument ETH/USDT: tick_size 0 must be greater than zero" in errors
    assert "lacks columns ['high', 'low', 'volume']" in errors
    assert "no instrument 'SOL/USDT' is defined" in errors
    assert "risk limits: TRADEFORGE_RISK: max_open_orderz: unknown setting" in errors


def test_config_check_names_the_variable_of_an_invalid_setting(
    runner: CliRunner, local_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEFORGE_PORT", "abc")
    monkeypatch.setenv("TRADEFORGE_PAPER__SLIPPAGE_BPS", "-1")

    result = invoke(runner, "config", "check")

    assert result.exit_code == 1
    errors = " ".join(result.stderr.split())
    assert "invalid settings" in errors
    assert "TRADEFORGE_PORT (or `port` in tradeforge.toml): Input should be a valid integer" in errors
    assert "(got 'abc')" in errors
    assert "TRADEFORGE_PAPER__SLIPPAGE_BPS (or `paper.slippage_bps` in tradeforge.toml)" in errors
    assert "Traceback" not in result.output


def test_config_check_reads_tradeforge_toml_and_names_its_errors(
    runner: CliRunner, local_env: str, tmp_path: Path
) -> None:
    (tmp_path / "tradeforge.toml").write_text('port = 9001\nlog_level = "LOUD"\n')

    result = invoke(runner, "config", "check")

    assert result.exit_code == 1
    assert "TRADEFORGE_LOG_LEVEL (or `log_level` in tradeforge.toml)" in " ".join(result.stderr.split())

    (tmp_path / "tradeforge.toml").write_text("port = 9001\n")
    fixed = invoke(runner, "config", "check")
    assert fixed.exit_code == 0, fixed.output
    assert "9001" in fixed.stdout


def test_config_check_masks_database_passwords(
    runner: CliRunner, local_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEFORGE_DATABASE_URL", f"postgresql://tf:hunter2@127.0.0.1:{free_port()}/tf")

    result = invoke(runner, "config", "check")

    assert result.exit_code == 1
    assert "hunter2" not in result.output
    assert "tf:***@127.0.0.1" in result.stdout
    assert "database: postgresql://tf:***@127.0.0.1" in " ".join(result.stderr.split())


# --- remote commands without a service --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_remote_commands_require_a_key(runner: CliRunner, local_env: str) -> None:
    result = invoke(runner, "orders", "list")

    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "an API key is required: pass --key KEY or set TRADEFORGE_API_KEY" in message


def test_remote_commands_say_when_the_service_is_not_running(runner: CliRunner, local_env: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = invoke(runner, "positions", "--url", url, "--key", "tf_nothing")

    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert f"cannot connect to {url}" in message
    assert "is the service running? (tradeforge run)" in message


# --- help --------------------------------------------------------------------------------------------

HELP_CASES = [
    ([], ["run", "keys", "orders", "positions", "balances", "fills", "risk", "db", "config"]),
    (["run"], ["--host", "--port", "--no-replay", "TRADEFORGE_HOST", "TRADEFORGE_PORT"]),
    (["keys"], ["create", "list", "revoke"]),
    (["reconciliation"], ["status", "run", "ack", "admin key"]),
    (["reconciliation", "ack"], ["VENUE", "DISCREPANCY", "--reason"]),
    (["keys", "create"], ["--role", "--name", "--account", "tail -n1"]),
    (["keys", "list"], ["--json"]),
    (["keys", "revoke"], ["KEY_ID"]),
    (["db"], ["upgrade", "current"]),
    (["db", "upgrade"], ["--revision", "TRADEFORGE_AUTO_MIGRATE"]),
    (["db", "current"], ["revision"]),
    (["config"], ["check"]),
    (["config", "check"], ["TRADEFORGE_PORT=abc"]),
    (["orders"], ["list", "show", "place", "cancel", "cancel-all", "amend"]),
    (
        ["orders", "list"],
        ["--status", "--symbol", "--limit", "--cursor", "--url", "--key", "--json", "TRADEFORGE_API_URL"],
    ),
    (["orders", "show"], ["ORDER_ID", "--json"]),
    (
        ["orders", "place"],
        [
            "SYMBOL",
            "SIDE",
            "QUANTITY",
            "--type",
            "--price",
            "--stop-price",
            "--tif",
            "--expire-at",
            "--client-order-id",
            "--idempotency-key",
            "TRADEFORGE_API_KEY",
        ],
    ),
    (["orders", "cancel"], ["ORDER_ID", "--url", "--key"]),
    (["orders", "cancel-all"], ["--symbol", "--url", "--key"]),
    (["orders", "amend"], ["ORDER_ID", "--price", "--quantity"]),
    (["positions"], ["--url", "--key", "--json"]),
    (["balances"], ["--url", "--key", "--json"]),
    (["fills"], ["--symbol", "--url", "--key", "--json"]),
    (["risk"], ["status", "halt", "resume", "reducing", "limits", "set-limits"]),
    (["risk", "status"], ["--url", "--key", "--json"]),
    (["risk", "halt"], ["--reason", "--cancel-open", "--keep-open"]),
    (["risk", "resume"], ["--reason"]),
    (["risk", "reducing"], ["--reason"]),
    (["risk", "limits"], ["--json"]),
    (["risk", "set-limits"], ["CHANGES", "max_open_orders"]),
]


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Help is laid out for the terminal width; a wide one keeps option names on one line.
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("NO_COLOR", "1")
    yield


@pytest.mark.parametrize(
    ("command", "expected"), HELP_CASES, ids=[" ".join(command) or "tradeforge" for command, _ in HELP_CASES]
)
def test_help_of_every_command(
    runner: CliRunner, wide_terminal: None, command: list[str], expected: list[str]
) -> None:
    result = invoke(runner, *command, "--help")

    assert result.exit_code == 0, result.output
    for text in expected:
        assert text.lower() in result.stdout.lower(), text
