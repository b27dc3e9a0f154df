"""`tradeforge positions|balances|fills`: the account's books as the running service reports them."""

from __future__ import annotations

from typing import Annotated

import typer

from tradeforge.cli.client import DEFAULT_API_URL, JsonOption, KeyOption, UrlOption, api_client, print_json
from tradeforge.cli.render import BALANCE_COLUMNS, FILL_COLUMNS, POSITION_COLUMNS, print_list


def positions(
    url: UrlOption = DEFAULT_API_URL,
    key: KeyOption = None,
    symbol: Annotated[str | None, typer.Option("--symbol", help="Only this symbol, e.g. BTC/USDT.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show positions (quantity, average price, mark, realized and unrealized P&L)."""
    with api_client(url, key) as api:
        page = api.get("/positions", {"symbol": symbol} if symbol else None)
    if as_json:
        print_json(page)
    else:
        print_list("Positions", page, POSITION_COLUMNS)


def balances(url: UrlOption = DEFAULT_API_URL, key: KeyOption = None, as_json: JsonOption = False) -> None:
    """Show balances per asset: total, locked by working orders, and free."""
    with api_client(url, key) as api:
        page = api.get("/balances")
    if as_json:
        print_json(page)
    else:
        print_list("Balances", page, BALANCE_COLUMNS)


def fills(
    url: UrlOption = DEFAULT_API_URL,
    key: KeyOption = None,
    symbol: Annotated[
        str | None, typer.Option("--symbol", help="Only fills of this symbol, e.g. BTC/USDT.")
    ] = None,
    order_id: Annotated[str | None, typer.Option("--order-id", help="Only fills of this order.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=500, help="Most fills to show (newest first).")
    ] = 50,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="Continue after a previous page (printed under the table).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show fills (executions), newest first."""
    params = {"limit": str(limit)}
    for name, value in (("symbol", symbol), ("order_id", order_id), ("cursor", cursor)):
        if value:
            params[name] = value
    with api_client(url, key) as api:
        page = api.get("/fills", params)
    if as_json:
        print_json(page)
    else:
        print_list("Fills", page, FILL_COLUMNS)
