"""`tradeforge reconciliation`: live venues' books against the venue, runs on demand, acknowledgements."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from tradeforge.cli.client import DEFAULT_API_URL, JsonOption, KeyOption, UrlOption, api_client, print_json
from tradeforge.cli.common import console

app = typer.Typer(
    help=(
        "Reconciliation of the running service's live venues with its books: the venue is the truth, "
        "every correction is audited, and a venue whose books do not match trades reducing-only or "
        f"not at all (over HTTP: --url / TRADEFORGE_API_URL, default {DEFAULT_API_URL}; --key / "
        "TRADEFORGE_API_KEY required; runs and acknowledgements need an admin key). "
        "See docs/reconciliation.md."
    ),
    no_args_is_help=True,
)

VenueArgument = Annotated[str, typer.Argument(help="A live venue of the service, e.g. binance.")]


@app.command("status")
def status(url: UrlOption = DEFAULT_API_URL, key: KeyOption = None, as_json: JsonOption = False) -> None:
    """Per live venue: trading state and why, its account, and what the last run corrected or left open."""
    with api_client(url, key) as api:
        body = api.get("/reconciliation")
    if as_json:
        print_json(body)
        return
    if not body:
        console().print("No live venues: nothing is reconciled (the paper venue is the books' own).")
        return
    for item in body:
        _print_venue(item)


@app.command("run")
def run(
    venue: VenueArgument, url: UrlOption = DEFAULT_API_URL, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Reconcile VENUE now and show the outcome (after a run already under way)."""
    with api_client(url, key) as api:
        body = api.request("POST", f"/reconciliation/{venue}/runs")
    if as_json:
        print_json(body)
    else:
        _print_venue(body)


@app.command("ack")
def acknowledge(
    venue: VenueArgument,
    discrepancy: Annotated[
        str, typer.Argument(help="The discrepancy's key, as `status` lists it (e.g. fill_mismatch:okx:123).")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why it is accepted (required, audited).")],
    url: UrlOption = DEFAULT_API_URL,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Accept a discrepancy that halts VENUE so it no longer holds trading; a run follows at once."""
    with api_client(url, key) as api:
        body = api.request(
            "POST", f"/reconciliation/{venue}/acknowledgements", body={"key": discrepancy, "reason": reason}
        )
    if as_json:
        print_json(body)
    else:
        _print_venue(body)


def _print_venue(item: dict[str, Any]) -> None:
    out = console()
    compared = "orders, fills, positions, balances" if item["compares_balances"] else "orders, fills"
    out.print(
        f"[bold]{item['venue']}[/bold] (account {item['account_id']}): {item['trading']}"
        f" — {item['reason'] or 'no reason given'}; compares {compared}; {item['runs']} runs",
        highlight=False,
    )
    report = item.get("last_report")
    if report is None:
        out.print("  no run has finished yet")
        return
    failed = f", failed: {report['failed']}" if report["failed"] else ""
    out.print(
        f"  last run ({report['trigger']}): {report['orders_checked']} orders, {report['fills_checked']} "
        f"fills checked, balances {'compared' if report['balances_checked'] else 'not compared'}{failed}",
        highlight=False,
    )
    if report["corrections"]:
        table = Table("correction", "target", "reason", title="corrected", title_justify="left")
        for c in report["corrections"]:
            table.add_row(c["kind"], c["target"], c["reason"])
        out.print(table)
    if report["discrepancies"]:
        table = Table("key", "severity", "detail", title="left open", title_justify="left")
        for d in report["discrepancies"]:
            table.add_row(d["key"], d["severity"], d["detail"])
        out.print(table)
