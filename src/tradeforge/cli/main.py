"""The `tradeforge` command: assembles the command groups (heavy libraries load only inside commands)."""

from __future__ import annotations

import inspect

import typer

from tradeforge.cli import (
    account,
    backtest,
    config,
    credentials,
    data,
    db,
    keys,
    optimize,
    orders,
    reconciliation,
    risk,
    run,
)

app = typer.Typer(
    name="tradeforge",
    help=(
        "TradeForge: self-hosted automated trading service.\n\n"
        "Local commands (run, keys, db, config, data) read the settings: TRADEFORGE_* environment "
        "variables and ./tradeforge.toml. Remote commands (orders, positions, balances, fills, risk, "
        "reconciliation) "
        "talk to the running service at --url / TRADEFORGE_API_URL with --key / TRADEFORGE_API_KEY."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("run")(run.run)
app.add_typer(keys.app, name="keys")
app.add_typer(credentials.app, name="credentials")
app.add_typer(orders.app, name="orders")
app.command("positions")(account.positions)
app.command("balances")(account.balances)
app.command("fills")(account.fills)
app.add_typer(risk.app, name="risk")
app.add_typer(reconciliation.app, name="reconciliation")
app.add_typer(db.app, name="db")
app.add_typer(data.app, name="data")
app.add_typer(config.app, name="config")
app.command("backtest")(backtest.backtest)
app.command("optimize")(optimize.optimize)


def reflow(text: str) -> str:
    """Join the hard-wrapped lines of each docstring paragraph, so rich wraps help to the terminal."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _reflow_help(group: typer.Typer) -> None:
    for command in group.registered_commands:
        doc = command.help or inspect.getdoc(command.callback)
        if doc:
            command.help = reflow(doc)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _reflow_help(sub.typer_instance)


_reflow_help(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
