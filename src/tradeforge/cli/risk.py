"""`tradeforge risk`: trading state (kill switch) and pre-trade limits of the running service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tradeforge.cli.client import DEFAULT_API_URL, JsonOption, KeyOption, UrlOption, api_client, print_json
from tradeforge.cli.common import fail
from tradeforge.cli.render import print_limits, print_risk_status

app = typer.Typer(
    help=(
        "Risk controls of the running service: trading state (active, reducing, halted) and limits "
        f"(over HTTP: --url / TRADEFORGE_API_URL, default {DEFAULT_API_URL}; --key / TRADEFORGE_API_KEY "
        "required; changing them needs an admin key)."
    ),
    no_args_is_help=True,
)

ReasonOption = Annotated[
    str, typer.Option("--reason", help="Why (required): recorded in the audit log and shown in rejections.")
]


@app.command("status")
def status(url: UrlOption = DEFAULT_API_URL, key: KeyOption = None, as_json: JsonOption = False) -> None:
    """Show the trading state, its reason, the limits in force and throttle usage."""
    with api_client(url, key) as api:
        body = api.get("/risk/status")
    _print_status(body, as_json)


@app.command("halt")
def halt(
    reason: ReasonOption,
    url: UrlOption = DEFAULT_API_URL,
    key: KeyOption = None,
    cancel_open: Annotated[
        bool | None,
        typer.Option(
            "--cancel-open/--keep-open",
            help="Also cancel every working order, or keep them. Default: the risk limit "
            "cancel_open_orders_on_halt decides.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Engage the kill switch: every new order is rejected (with this reason) until `risk resume`."""
    body: dict[str, Any] = {"engaged": True, "reason": reason}
    if cancel_open is not None:
        body["cancel_open_orders"] = cancel_open
    with api_client(url, key) as api:
        result = api.request("POST", "/risk/kill-switch", body=body)
    _print_status(result, as_json)


@app.command("resume")
def resume(
    reason: ReasonOption, url: UrlOption = DEFAULT_API_URL, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Release the kill switch (or leave reducing mode): trading is active again."""
    with api_client(url, key) as api:
        result = api.request("POST", "/risk/kill-switch", body={"engaged": False, "reason": reason})
    _print_status(result, as_json)


@app.command("reducing")
def reducing(
    reason: ReasonOption, url: UrlOption = DEFAULT_API_URL, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Reduce-only mode: only orders that shrink a position (without flipping it) are accepted."""
    with api_client(url, key) as api:
        result = api.request("POST", "/risk/state", body={"state": "reducing", "reason": reason})
    _print_status(result, as_json)


@app.command("limits")
def limits(url: UrlOption = DEFAULT_API_URL, key: KeyOption = None, as_json: JsonOption = False) -> None:
    """Show the pre-trade limits in force."""
    with api_client(url, key) as api:
        body = api.get("/risk/limits")
    if as_json or not isinstance(body, dict):
        print_json(body)
    else:
        print_limits(body)


@app.command("set-limits")
def set_limits(
    changes: Annotated[
        str,
        typer.Argument(
            help="A JSON object merged into the limits (only the keys given change; a per_symbol "
            "entry set to null is removed), e.g. "
            '\'{"max_open_orders": 20, "default": {"max_order_quantity": "1"}}\'. @FILE reads a file.',
        ),
    ],
    url: UrlOption = DEFAULT_API_URL,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change some limits (partial update, PUT /api/v1/risk/limits) and show the result."""
    text = changes
    if changes.startswith("@"):
        try:
            text = Path(changes[1:]).read_text()
        except OSError as error:
            fail(f"cannot read {changes[1:]}: {error.strerror or error}", 2)
    try:
        # Numbers with a fraction keep their exact text (the API reads decimal strings).
        body = json.loads(text, parse_float=str)
    except json.JSONDecodeError as error:
        fail(f"limits: not valid JSON ({error})", 2)
    if not isinstance(body, dict):
        fail("limits: expected a JSON object such as '{\"max_open_orders\": 20}'", 2)
    with api_client(url, key) as api:
        result = api.request("PUT", "/risk/limits", body=body)
    if as_json or not isinstance(result, dict):
        print_json(result)
    else:
        print_limits(result)


def _print_status(body: Any, as_json: bool) -> None:
    if as_json or not isinstance(body, dict):
        print_json(body)
    else:
        print_risk_status(body)
