"""Bad input: every case is a 4xx problem+json naming the offending field, and nothing changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from tests.integration.api.harness import Api, api_settings, start_api

from tradeforge.api.app import create_app
from tradeforge.domain.data import Bar

ORDERS = "/api/v1/orders"
VALID = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": "0.001"}
LIMIT = {"symbol": "BTC/USDT", "side": "buy", "type": "limit", "quantity": "0.001", "price": "80000"}


def raw(text: str, content_type: str | None = "application/json") -> dict[str, Any]:
    return {"content": text.encode(), "headers": {"Content-Type": content_type} if content_type else {}}


def order(**changes: Any) -> dict[str, Any]:
    body = {**VALID, **changes}
    return {"json": {k: v for k, v in body.items() if v is not ...}}


# (id, method, path, request kwargs, expected status, expected field)
CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    ("malformed-json", "POST", ORDERS, raw('{"symbol": "BTC/USDT", "side": '), 422, "body"),
    ("trailing-garbage", "POST", ORDERS, raw(json.dumps(VALID) + "}"), 422, "body"),
    (
        "invalid-utf8",
        "POST",
        ORDERS,
        {"content": b'{"symbol": "\xff\xfe"}', "headers": {"Content-Type": "application/json"}},
        422,
        "body",
    ),
    ("deep-nesting", "POST", ORDERS, raw("[" * 100_000 + "]" * 100_000), 422, "body"),
    ("text-plain", "POST", ORDERS, raw(json.dumps(VALID), "text/plain"), 415, "header.content-type"),
    ("form-encoded", "POST", ORDERS, {"data": {"symbol": "BTC/USDT"}}, 415, "header.content-type"),
    ("no-content-type", "POST", ORDERS, raw(json.dumps(VALID), None), 415, "header.content-type"),
    ("empty-body", "POST", ORDERS, {}, 422, "body"),
    ("array-body", "POST", ORDERS, {"json": [VALID]}, 422, "body"),
    (
        "huge-exponent",
        "POST",
        ORDERS,
        raw('{"symbol":"BTC/USDT","side":"buy","type":"market","quantity":1e999}'),
        422,
        "body.quantity",
    ),
    (
        "huge-integer",
        "POST",
        ORDERS,
        raw('{"symbol":"BTC/USDT","side":"buy","type":"market","quantity":1' + "0" * 5000 + "}"),
        422,
        "body.quantity",
    ),
    ("big-quantity", "POST", ORDERS, order(quantity="1000000000000000000000"), 422, "body.quantity"),
    (
        "nan-literal",
        "POST",
        ORDERS,
        raw('{"symbol":"BTC/USDT","side":"buy","type":"market","quantity":NaN}'),
        422,
        "body.quantity",
    ),
    (
        "infinity-literal",
        "POST",
        ORDERS,
        raw('{"symbol":"BTC/USDT","side":"buy","type":"market","quantity":Infinity}'),
        422,
        "body.quantity",
    ),
    (
        "minus-infinity-price",
        "POST",
        ORDERS,
        raw('{"symbol":"BTC/USDT","side":"buy","type":"limit","quantity":"1","price":-Infinity}'),
        422,
        "body.price",
    ),
    ("nan-string", "POST", ORDERS, order(quantity="NaN"), 422, "body.quantity"),
    ("infinity-string", "POST", ORDERS, order(quantity="Infinity"), 422, "body.quantity"),
    ("exponent-string", "POST", ORDERS, order(quantity="1e-3"), 422, "body.quantity"),
    ("negative-quantity", "POST", ORDERS, order(quantity="-0.001"), 422, "body.quantity"),
    ("zero-quantity", "POST", ORDERS, order(quantity="0"), 422, "body.quantity"),
    (
        "zero-number",
        "POST",
        ORDERS,
        raw('{"symbol":"BTC/USDT","side":"buy","type":"market","quantity":0}'),
        422,
        "body.quantity",
    ),
    (
        "too-many-decimals-number",
        "POST",
        ORDERS,
        raw('{"symbol":"BTC/USDT","side":"buy","type":"market","quantity":0.0010000000000000000001}'),
        422,
        "body.quantity",
    ),
    (
        "too-many-digits",
        "POST",
        ORDERS,
        order(quantity="1234567890.123456789012345678901"),
        422,
        "body.quantity",
    ),
    ("off-lot-size", "POST", ORDERS, order(quantity="0.0000123"), 422, "quantity"),
    ("off-tick-size", "POST", ORDERS, {"json": {**LIMIT, "price": "80000.001"}}, 422, "price"),
    ("negative-price", "POST", ORDERS, {"json": {**LIMIT, "price": "-80000"}}, 422, "body.price"),
    ("boolean-quantity", "POST", ORDERS, order(quantity=True), 422, "body.quantity"),
    ("object-quantity", "POST", ORDERS, order(quantity={"value": "1"}), 422, "body.quantity"),
    ("unknown-symbol", "POST", ORDERS, order(symbol="DOGE/USDT"), 422, "symbol"),
    ("malformed-symbol", "POST", ORDERS, order(symbol="BTCUSDT"), 422, "body.symbol"),
    ("unknown-venue", "POST", ORDERS, order(venue="binance"), 422, "venue"),
    ("unknown-field", "POST", ORDERS, order(leverage="10"), 422, "body.leverage"),
    ("missing-side", "POST", ORDERS, order(side=...), 422, "body.side"),
    ("bad-side", "POST", ORDERS, order(side="long"), 422, "body.side"),
    ("bad-type", "POST", ORDERS, order(type="iceberg"), 422, "body.type"),
    ("bad-time-in-force", "POST", ORDERS, order(time_in_force="day"), 422, "body.time_in_force"),
    ("limit-without-price", "POST", ORDERS, order(type="limit"), 422, "price"),
    ("market-with-price", "POST", ORDERS, order(price="80000"), 422, "price"),
    ("stop-without-stop-price", "POST", ORDERS, order(type="stop"), 422, "stop_price"),
    ("gtd-without-expiry", "POST", ORDERS, {"json": {**LIMIT, "time_in_force": "GTD"}}, 422, "expire_at"),
    (
        "expiry-without-timezone",
        "POST",
        ORDERS,
        {"json": {**LIMIT, "time_in_force": "GTD", "expire_at": "2030-01-01T00:00:00"}},
        422,
        "body.expire_at",
    ),
    (
        "expiry-in-the-past",
        "POST",
        ORDERS,
        {"json": {**LIMIT, "time_in_force": "GTD", "expire_at": "2001-01-01T00:00:00Z"}},
        422,
        "expire_at",
    ),
    (
        "bad-client-order-id",
        "POST",
        ORDERS,
        order(client_order_id="has spaces and ü"),
        422,
        "body.client_order_id",
    ),
    ("long-client-order-id", "POST", ORDERS, order(client_order_id="x" * 37), 422, "body.client_order_id"),
    (
        "long-idempotency-key",
        "POST",
        ORDERS,
        {**order(), "headers": {"Idempotency-Key": "k" * 300}},
        422,
        "header.Idempotency-Key",
    ),
    ("list-limit-zero", "GET", ORDERS, {"params": {"limit": 0}}, 422, "query.limit"),
    ("list-limit-too-big", "GET", ORDERS, {"params": {"limit": 501}}, 422, "query.limit"),
    ("list-limit-not-a-number", "GET", ORDERS, {"params": {"limit": "ten"}}, 422, "query.limit"),
    ("list-bad-status", "GET", ORDERS, {"params": {"status": ["open", "paused"]}}, 422, "query.status.1"),
    ("list-bad-symbol", "GET", ORDERS, {"params": {"symbol": "BTC-USDT"}}, 422, "query.symbol"),
    ("list-bad-cursor", "GET", ORDERS, {"params": {"cursor": "' OR 1=1 --"}}, 422, "query.cursor"),
    ("fills-bad-limit", "GET", "/api/v1/fills", {"params": {"limit": -5}}, 422, "query.limit"),
    ("order-bad-id", "GET", f"{ORDERS}/bad$id", {}, 422, "path.order_id"),
    ("amend-negative", "PATCH", f"{ORDERS}/Onosuchorder", {"json": {"quantity": "-1"}}, 422, "body.quantity"),
    ("amend-unknown-field", "PATCH", f"{ORDERS}/Onosuchorder", {"json": {"side": "sell"}}, 422, "body.side"),
    ("amend-unknown-order", "PATCH", f"{ORDERS}/Onosuchorder", {"json": {"price": "1"}}, 404, ""),
    ("cancel-all-bad-symbol", "DELETE", ORDERS, {"params": {"symbol": "nope"}}, 422, "query.symbol"),
    (
        "limits-negative",
        "PUT",
        "/api/v1/risk/limits",
        {"json": {"per_symbol": {"BTC/USDT": {"max_order_quantity": "-1"}}}},
        422,
        "body.per_symbol.BTC/USDT.max_order_quantity",
    ),
    (
        "limits-unknown-field",
        "PUT",
        "/api/v1/risk/limits",
        {"json": {"default": {"max_leverage": "3"}}},
        422,
        "body.default.max_leverage",
    ),
    (
        "limits-bad-count",
        "PUT",
        "/api/v1/risk/limits",
        {"json": {"max_open_orders": 1.5}},
        422,
        "body.max_open_orders",
    ),
    (
        "limits-null-bool",
        "PUT",
        "/api/v1/risk/limits",
        {"json": {"check_balance": None}},
        422,
        "body.check_balance",
    ),
    (
        "limits-bad-symbol",
        "PUT",
        "/api/v1/risk/limits",
        {"json": {"per_symbol": {"BTC": {}}}},
        422,
        "body.per_symbol.BTC.[key]",
    ),
    ("limits-nan-band", "PUT", "/api/v1/risk/limits", raw('{"price_band": NaN}'), 422, "body.price_band"),
    (
        "kill-switch-no-reason",
        "POST",
        "/api/v1/risk/kill-switch",
        {"json": {"engaged": True}},
        422,
        "body.reason",
    ),
    (
        "kill-switch-string-bool",
        "POST",
        "/api/v1/risk/kill-switch",
        {"json": {"engaged": "yes", "reason": "x"}},
        422,
        "body.engaged",
    ),
    (
        "state-unknown",
        "POST",
        "/api/v1/risk/state",
        {"json": {"state": "paused", "reason": "x"}},
        422,
        "body.state",
    ),
    ("key-bad-role", "POST", "/api/v1/keys", {"json": {"name": "x", "role": "root"}}, 422, "body.role"),
    ("key-empty-name", "POST", "/api/v1/keys", {"json": {"name": "", "role": "viewer"}}, 422, "body.name"),
    ("audit-bad-action", "GET", "/api/v1/audit", {"params": {"action": "DROP TABLE"}}, 422, "query.action"),
    ("body-too-large", "POST", ORDERS, raw(json.dumps({**VALID, "strategy_id": "x" * 2_000_000})), 413, ""),
    ("unknown-route", "GET", "/api/v1/nothing-here", {}, 404, ""),
    ("wrong-method", "PUT", ORDERS, {"json": VALID}, 405, ""),
]


@pytest.fixture(scope="module")
def error_api(tmp_path_factory: pytest.TempPathFactory, btc_bars: list[Bar]) -> Iterator[Api]:
    """One app for all cases (each case checks that it changed nothing), with a market price known."""
    tmp = tmp_path_factory.mktemp("errors")
    for api in start_api(api_settings(f"sqlite:///{tmp / 'tradeforge.db'}", tmp / "var")):
        api.feed(*btc_bars[:2])
        filled = api.request("POST", ORDERS, api.admin_key, json=VALID)
        assert filled.json()["status"] == "filled"
        yield api


def snapshot(api: Api) -> dict[str, Any]:
    orders = api.request("GET", ORDERS, api.admin_key, params={"limit": 500}).json()["items"]
    return {
        "orders": orders,
        "balances": api.balances(),
        "limits": api.request("GET", "/api/v1/risk/limits", api.admin_key).json(),
        "state": api.request("GET", "/api/v1/risk/status", api.admin_key).json()["state"],
        "keys": api.request("GET", "/api/v1/keys", api.admin_key).json()["items"],
    }


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_a_problem_naming_the_field_and_changes_nothing(
    error_api: Api, method: str, path: str, kwargs: dict[str, Any], status: int, field: str
) -> None:
    before = snapshot(error_api)
    response = error_api.request(method, path, error_api.admin_key, **kwargs)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"] and problem["type"]
    if field:
        fields = [error["field"] for error in problem["errors"]]
        assert field in fields, fields
        assert all(error["message"] for error in problem["errors"])
        assert field in problem["detail"]
    assert snapshot(error_api) == before


def test_json_numbers_are_read_exactly(error_api: Api) -> None:
    """0.1 is not binary-rounded: a JSON number with lot-size digits is accepted as written."""
    response = error_api.request(
        "POST",
        ORDERS,
        error_api.admin_key,
        **raw('{"symbol":"BTC/USDT","side":"buy","type":"market","quantity":0.00123,"strategy_id":"exact"}'),
    )
    assert response.status_code == 201, response.text
    assert response.json()["quantity"] == "0.00123"
    assert response.json()["filled_quantity"] == "0.00123"


# --- schema-based fuzzing -------------------------------------------------------------------------------


def send(api: Api, case: Any) -> httpx.Response:
    """The generated request, sent through the test client as the admin (so it reaches every handler)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    headers = {
        k: v for k, v in kwargs.get("headers", {}).items() if k.lower() not in ("authorization", "connection")
    }
    headers["Authorization"] = f"Bearer {api.admin_key}"
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif isinstance(kwargs.get("data"), bytes | str):
        body["content"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        body["data"] = kwargs["data"]
    response: httpx.Response = api.client.request(
        kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=headers, **body
    )
    return response


FUZZ_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
]


def test_fuzzed_requests_never_get_a_server_error(error_api: Api) -> None:
    """Requests generated from the OpenAPI document (valid and invalid), for every operation: never a
    5xx, errors are problems, and every answer matches its documented status, type and schema."""
    schema = schemathesis.openapi.from_dict(error_api.app.openapi())
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) >= 20
    auth = {"Authorization": f"Bearer {error_api.admin_key}"}

    for operation in operations:

        @given(case=st.one_of(*(operation.as_strategy(mode, headers=auth) for mode in GenerationMode)))
        @settings(
            max_examples=50,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = send(error_api, case)
            assert response.status_code < 500, (case.method, case.path, response.text)
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json", response.text
            case.validate_response(response, checks=FUZZ_CHECKS)

        check()


# --- server-side failures -------------------------------------------------------------------------------


def test_an_unexpected_error_is_a_500_problem_that_leaks_nothing(sqlite_url: str, tmp_path: Path) -> None:
    app = create_app(api_settings(sqlite_url, tmp_path / "var"), replay=False, tune_gc=False)

    async def broken() -> None:
        raise RuntimeError("internal detail: password=hunter2")

    app.add_api_route("/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["instance"]) == (500, "/broken")
    assert "hunter2" not in response.text


def test_a_change_that_cannot_be_stored_is_a_503_and_not_acknowledged(
    sqlite_api: Api, sqlite_url: str
) -> None:
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE orders RENAME TO orders_away")
    try:
        response = sqlite_api.request("POST", ORDERS, sqlite_api.admin_key, json=LIMIT)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"].endswith("not-durable")
        assert "orders" not in problem["detail"]  # no SQL or table names for clients
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE orders_away RENAME TO orders")
        engine.dispose()
    assert sqlite_api.order_count() == 0
