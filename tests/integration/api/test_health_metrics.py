"""Liveness, readiness, Prometheus metrics, the OpenAPI document, and start-up (first admin key, replay)."""

from __future__ import annotations

import asyncio
import logging
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.api.harness import BTC_SAMPLE, Api, api_settings, start_api

from tradeforge.adapters.sqlalchemy.uow import SqlAlchemyUnitOfWorkFactory
from tradeforge.api.app import create_app
from tradeforge.domain.data import Bar
from tradeforge.runtime.settings import FeedSettings

MARKET = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": "0.001"}


def samples(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def test_health_and_ready(api: Api) -> None:
    health = api.client.get("/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = api.client.get("/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert body["database"] in ("sqlite", "postgresql")
    assert (body["mode"], body["trading_state"], body["working_orders"], body["replay_bars"]) == (
        "paper",
        "active",
        0,
        None,
    )


def test_ready_is_503_when_the_database_does_not_answer(sqlite_api: Api) -> None:
    factory = sqlite_api.system.uow_factory
    assert isinstance(factory, SqlAlchemyUnitOfWorkFactory)
    assert factory.engine.url.database is not None
    database = Path(factory.engine.url.database)
    factory.engine.dispose()
    moved = database.with_suffix(".moved")
    database.rename(moved)
    database.mkdir()  # a directory where the file was: SQLite cannot open it
    try:
        response = sqlite_api.client.get("/ready")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "database" in response.json()["detail"]
    finally:
        database.rmdir()
        moved.rename(database)
    assert sqlite_api.client.get("/ready").status_code == 200


def test_ready_is_503_before_the_system_is_built(sqlite_url: str, tmp_path: Path) -> None:
    app = create_app(api_settings(sqlite_url, tmp_path / "var"), replay=False, tune_gc=False)
    client = TestClient(app)  # not entered: the lifespan has not run
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/health").status_code == 200


def test_metrics_count_requests_orders_fills_and_state(api: Api, btc_bars: list[Bar]) -> None:
    api.feed(*btc_bars[:2])
    before = samples(api)
    order = api.request("POST", "/api/v1/orders", api.admin_key, json=MARKET)
    assert order.json()["status"] == "filled"
    rejected = api.request("POST", "/api/v1/orders", api.admin_key, json={**MARKET, "quantity": "1000"})
    assert rejected.json()["status"] == "rejected"
    halted = api.request(
        "POST", "/api/v1/risk/kill-switch", api.admin_key, json={"engaged": True, "reason": "t"}
    )
    assert halted.status_code == 200
    after = samples(api)

    def grew(name: str, by: float, **labels: str) -> None:
        assert value(after, name, **labels) - value(before, name, **labels) == by, (name, labels)

    route = {"method": "POST", "route": "/api/v1/orders", "status": "201"}
    grew("tradeforge_http_requests_total", 2, **route)
    grew("tradeforge_http_request_duration_seconds_count", 2, **route)
    grew("tradeforge_order_events_total", 2, kind="submitted")
    grew("tradeforge_order_events_total", 1, kind="filled")
    grew("tradeforge_order_events_total", 1, kind="rejected")
    grew("tradeforge_fills_total", 1, symbol="BTC/USDT")
    notional = float(order.json()["average_price"]) * 0.001
    assert value(after, "tradeforge_fill_notional_total", symbol="BTC/USDT") == pytest.approx(notional)
    assert value(after, "tradeforge_journal_events_total", category="order") >= 5
    assert value(after, "tradeforge_journal_events_total", category="risk") >= 1
    assert value(before, "tradeforge_trading_state") == 0
    assert value(after, "tradeforge_trading_state") == 2
    assert value(after, "tradeforge_bars_total", outcome="published") == 2


def test_replay_feeds_bars_into_the_running_system(sqlite_url: str, tmp_path: Path) -> None:
    feeds = (FeedSettings(symbol="BTC/USDT", path=BTC_SAMPLE),)
    settings = api_settings(
        sqlite_url, tmp_path / "var", feeds=feeds, replay_speed=60_000.0, replay_loop=False
    )
    app = create_app(settings, replay=True, tune_gc=False)
    with TestClient(app) as client:
        admin = {"Authorization": f"Bearer {settings.admin_key_file.read_text().strip()}"}
        # Wait on the loop for the replay to publish a price (no sleeps in the test thread's logic).
        assert client.portal is not None
        client.portal.call(_wait_for_price, app)
        assert client.get("/ready").json()["replay_bars"] > 0
        order = client.post("/api/v1/orders", json=MARKET, headers=admin)
        assert order.status_code == 201
        assert order.json()["status"] == "filled"
        metrics = client.get("/metrics").text
        assert "tradeforge_replay_bars_total" in metrics


async def _wait_for_price(app: Any) -> None:
    """Yield to the loop until the replay has delivered a bar (bounded, so a broken feed fails)."""

    async def poll() -> None:
        while app.state.system.portfolio.last_price("BTC/USDT") is None:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout=30)


def test_first_start_writes_a_private_admin_key_once(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = api_settings(sqlite_url, tmp_path / "var")
    caplog.set_level(logging.DEBUG)
    runs = start_api(settings)
    api = next(runs)
    key_file = settings.admin_key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    secret = key_file.read_text().strip()
    assert str(key_file) in caplog.text
    assert secret not in caplog.text
    keys = api.request("GET", "/api/v1/keys", secret).json()["items"]
    assert [(k["name"], k["role"]) for k in keys] == [("admin", "admin")]
    assert all("hash" not in field for k in keys for field in k)
    next(runs, None)

    key_file.unlink()
    runs = start_api(settings)
    api_again = next(runs)
    assert not key_file.exists()  # keys exist: no new admin key is minted
    assert api_again.request("GET", "/api/v1/keys", secret).status_code == 200
    next(runs, None)


def test_openapi_documents_every_route(sqlite_api: Api) -> None:
    document = sqlite_api.client.get("/openapi.json").json()
    paths = document["paths"]
    schemas = document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "tf_<id>_<secret>",
        "description": document["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    assert {tag["name"] for tag in document["tags"]} >= {
        "orders",
        "portfolio",
        "risk",
        "keys",
        "audit",
        "health",
    }

    routes = [
        (method, route.path)
        for route in iter_route_contexts(sqlite_api.app.routes)
        if isinstance(route.original_route, APIRoute) and route.path
        for method in route.methods or ()
    ]
    assert len(routes) >= 21
    for method, path in routes:
        operation = paths[path][method.lower()]
        where = f"{method} {path}"
        assert operation["summary"] and operation["description"] and operation["tags"], where
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert success, where
        for code in success:
            content = operation["responses"][code]["content"]
            assert any("schema" in media for media in content.values()), where
        if path.startswith("/api/v1"):
            assert operation["security"] == [{"ApiKey": []}], where
            for code in ("401", "403"):
                problem = operation["responses"][code]["content"]["application/problem+json"]["schema"]
                assert problem == {"$ref": "#/components/schemas/Problem"}, where
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in operation["responses"], where
            assert "application/problem+json" in operation["responses"]["422"]["content"], where
        if "requestBody" in operation:
            assert "415" in operation["responses"], where

    order = schemas["OrderOut"]["properties"]
    for field in ("quantity", "filled_quantity", "remaining_quantity", "fees"):
        assert order[field]["type"] == "string", field
    assert {"type": "string", "format": "decimal"}.items() <= order["average_price"]["anyOf"][0].items()
    examples = paths["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert {"market", "limit", "stop_limit_gtd"} <= examples.keys()
    assert set(schemas["Problem"]["properties"]) == {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "errors",
    }
    refs = _refs(document)
    assert {ref.rsplit("/", 1)[-1] for ref in refs} <= schemas.keys(), "dangling $ref"


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for child in node.values():
            found |= _refs(child)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(child) for child in node)) if node else set()
    return set()
