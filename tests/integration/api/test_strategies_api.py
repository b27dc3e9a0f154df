"""Strategies over the API: add and start sma_cross, trade on real bars, PnL, stop and start, and refusals."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.integration.api.harness import Api, api_settings, start_api

from tradeforge.domain.data import Bar
from tradeforge.domain.errors import ValidationError
from tradeforge.runtime.settings import StrategySettings

SMA = {
    "id": "sma-api",
    "name": "sma_cross",
    "symbols": ["BTC/USDT"],
    "timeframe": "1m",
    "params": {"fast": 3, "slow": 8, "quantity": "0.01"},
}


def strategies(api: Api, key: str) -> dict[str, dict[str, Any]]:
    response = api.request("GET", "/api/v1/strategies", key)
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["items"]}


def strategy_orders(api: Api, key: str) -> list[dict[str, Any]]:
    response = api.request("GET", "/api/v1/orders", key, params={"strategy_id": SMA["id"], "limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def problem_field(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    field: str = response.json()["errors"][0]["field"]
    return field


def test_a_strategy_started_over_the_api_trades_reports_pnl_and_stops(api: Api, btc_bars: list[Bar]) -> None:
    trader = api.create_key("trader")
    viewer = api.create_key("viewer")
    created = api.request("POST", "/api/v1/strategies", trader, json=SMA)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "running"
    assert created.json()["fills"] == 0

    api.feed(*btc_bars[:300])

    orders = strategy_orders(api, viewer)
    assert orders, "SMA 3/8 crosses on 300 real minutes"
    assert {o["strategy_id"] for o in orders} == {"sma-api"}
    assert all(o["client_order_id"].startswith("sma-api-") for o in orders)
    filled = [o for o in orders if o["status"] == "filled"]
    assert filled and {o["side"] for o in filled} == {"buy", "sell"}

    view = strategies(api, viewer)["sma-api"]
    assert view["status"] == "running" and view["error"] is None
    assert view["symbols"] == ["BTC/USDT"] and view["timeframe"] == "1m"
    assert view["fills"] >= len(filled)
    # Nothing else trades this account, so the strategy's own books equal the account's position.
    positions = api.request("GET", "/api/v1/positions", viewer).json()["items"]
    position = next(p for p in positions if p["symbol"] == "BTC/USDT")
    assert Decimal(view["positions"]["BTC/USDT"]) == Decimal(position["quantity"])
    assert Decimal(view["realized_pnl"]) == Decimal(position["realized_pnl"])
    assert Decimal(view["unrealized_pnl"]) == Decimal(position["unrealized_pnl"])
    assert Decimal(view["fees"]) == Decimal(position["fees"]) > 0

    stopped = api.request("POST", "/api/v1/strategies/sma-api/stop", trader)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "stopped"
    count = len(strategy_orders(api, viewer))
    api.feed(*btc_bars[300:600])
    assert len(strategy_orders(api, viewer)) == count  # a stopped strategy sends nothing
    assert strategies(api, viewer)["sma-api"]["status"] == "stopped"

    restarted = api.request("POST", "/api/v1/strategies/sma-api/start", trader)
    assert restarted.status_code == 200, restarted.text
    assert restarted.json()["status"] == "running"


def test_available_lists_the_builtin_with_its_parameters(sqlite_api: Api) -> None:
    response = sqlite_api.request("GET", "/api/v1/strategies/available", sqlite_api.create_key("viewer"))
    assert response.status_code == 200, response.text
    sma = next(item for item in response.json()["items"] if item["name"] == "sma_cross")
    assert sma["source"] == "builtin"
    assert {p["name"]: p["default"] for p in sma["config"]} == {"fast": "10", "slow": "30", "quantity": "1"}


def test_invalid_strategies_are_refused_naming_the_field(sqlite_api: Api) -> None:
    api = sqlite_api
    trader = api.create_key("trader")

    def post(**changes: Any) -> Any:
        return api.request("POST", "/api/v1/strategies", trader, json={**SMA, **changes})

    assert problem_field(post(name="no_such_strategy"), 422) == "body.name"
    assert problem_field(post(params={"fst": 3}), 422) == "body.params.fst"
    assert problem_field(post(params={"fast": "x"}), 422) == "body.params.fast"
    assert problem_field(post(symbols=["DOGE/USDT"]), 422) == "body.symbols"
    assert problem_field(post(id="has.dot"), 422) == "body.id"
    assert strategies(api, trader) == {}  # nothing refused was added

    assert post().status_code == 201
    duplicate = post(params={"fast": 5, "slow": 20})
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["type"] == "urn:tradeforge:problem:strategy-exists"
    assert api.request("POST", "/api/v1/strategies/nosuch/stop", trader).status_code == 404
    assert list(strategies(api, trader)) == ["sma-api"]


def test_a_viewer_cannot_start_or_stop_strategies(sqlite_api: Api) -> None:
    api = sqlite_api
    viewer = api.create_key("viewer")
    assert api.request("POST", "/api/v1/strategies", viewer, json=SMA).status_code == 403
    assert api.request("POST", "/api/v1/strategies", api.admin_key, json=SMA).status_code == 201
    refused = api.request("POST", "/api/v1/strategies/sma-api/stop", viewer)
    assert refused.status_code == 403, refused.text
    assert strategies(api, viewer)["sma-api"]["status"] == "running"


def test_strategies_from_settings_are_added_at_start_and_the_enabled_ones_started(
    sqlite_url: str, tmp_path: Path
) -> None:
    configured = (
        StrategySettings(id="cfg-on", name="sma_cross", symbols=("BTC/USDT",), params={"quantity": "0.01"}),
        StrategySettings(id="cfg-off", name="sma_cross", symbols=("ETH/USDT",), enabled=False),
    )
    for api in start_api(api_settings(sqlite_url, tmp_path / "var", strategies=configured)):
        views = strategies(api, api.admin_key)
        assert {sid: v["status"] for sid, v in views.items()} == {"cfg-on": "running", "cfg-off": "added"}
        assert views["cfg-off"]["symbols"] == ["ETH/USDT"]


def test_a_bad_strategy_in_settings_stops_the_start_naming_it(sqlite_url: str, tmp_path: Path) -> None:
    configured = (StrategySettings(id="bad", name="sma_cross", symbols=("BTC/USDT",), params={"fst": 1}),)
    with pytest.raises(ValidationError) as raised:
        for _api in start_api(api_settings(sqlite_url, tmp_path / "var", strategies=configured)):
            pass
    assert raised.value.field == "strategies.bad.params.fst"
