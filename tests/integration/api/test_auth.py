"""Authentication and role permissions of every /api/v1 route, discovered from the app itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from tests.integration.api.harness import Api

from tradeforge.security.rbac import ROLE_PERMISSIONS, Permission, Role

READ, TRADE = Permission.READ, Permission.TRADE
RISK, KEYS, AUDIT = Permission.MANAGE_RISK, Permission.MANAGE_KEYS, Permission.READ_AUDIT

# The permission each route needs. A new /api/v1 route must be added here (test_table_covers_every_route).
PERMISSIONS: dict[tuple[str, str], Permission] = {
    ("POST", "/api/v1/orders"): TRADE,
    ("GET", "/api/v1/orders"): READ,
    ("DELETE", "/api/v1/orders"): TRADE,
    ("GET", "/api/v1/orders/{order_id}"): READ,
    ("PATCH", "/api/v1/orders/{order_id}"): TRADE,
    ("DELETE", "/api/v1/orders/{order_id}"): TRADE,
    ("GET", "/api/v1/fills"): READ,
    ("GET", "/api/v1/positions"): READ,
    ("GET", "/api/v1/balances"): READ,
    ("GET", "/api/v1/risk/status"): READ,
    ("GET", "/api/v1/risk/limits"): READ,
    ("PUT", "/api/v1/risk/limits"): RISK,
    ("POST", "/api/v1/risk/kill-switch"): RISK,
    ("POST", "/api/v1/risk/state"): RISK,
    ("GET", "/api/v1/strategies"): READ,
    ("GET", "/api/v1/strategies/available"): READ,
    ("POST", "/api/v1/strategies"): TRADE,
    ("POST", "/api/v1/strategies/{strategy_id}/stop"): TRADE,
    ("POST", "/api/v1/strategies/{strategy_id}/start"): TRADE,
    ("GET", "/api/v1/backtests"): READ,
    ("POST", "/api/v1/backtests"): TRADE,
    ("GET", "/api/v1/backtests/{job_id}"): READ,
    ("GET", "/api/v1/backtests/{job_id}/files/{name}"): READ,
    ("GET", "/api/v1/credentials"): KEYS,
    ("POST", "/api/v1/credentials"): KEYS,
    ("GET", "/api/v1/credentials/{credential_id}"): KEYS,
    ("POST", "/api/v1/credentials/{credential_id}/rotate"): KEYS,
    ("DELETE", "/api/v1/credentials/{credential_id}"): KEYS,
    ("GET", "/api/v1/keys"): KEYS,
    ("POST", "/api/v1/keys"): KEYS,
    ("DELETE", "/api/v1/keys/{key_id}"): KEYS,
    ("GET", "/api/v1/audit"): AUDIT,
    ("GET", "/api/v1/reconciliation"): READ,
    ("POST", "/api/v1/reconciliation/{venue}/runs"): RISK,
    ("POST", "/api/v1/reconciliation/{venue}/acknowledgements"): RISK,
}

# A valid request for each route, so an allowed call reaches the handler (harmless where it mutates).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/orders"): {
        "symbol": "ETH/USDT",
        "side": "buy",
        "type": "limit",
        "quantity": "0.01",
        "price": "1000",
    },
    ("PATCH", "/api/v1/orders/{order_id}"): {"price": "1001"},
    ("PUT", "/api/v1/risk/limits"): {"max_open_orders": 150},
    ("POST", "/api/v1/risk/kill-switch"): {"engaged": False, "reason": "test"},
    ("POST", "/api/v1/risk/state"): {"state": "active", "reason": "test"},
    ("POST", "/api/v1/keys"): {"name": "made-in-test", "role": "viewer"},
    ("POST", "/api/v1/strategies"): {"id": "auth-made", "name": "sma_cross", "symbols": ["ETH/USDT"]},
    # No bars for it in the test app: an allowed call reaches the handler and is refused there (422).
    ("POST", "/api/v1/backtests"): {"strategy": "sma_cross", "symbol": "ETH/USDT"},
    ("POST", "/api/v1/credentials"): {
        "venue": "binance",
        "label": "auth",
        "api_key": "AbCdEfGh01234567",
        "secret": "s3cret-0123456789",
    },
    ("POST", "/api/v1/credentials/{credential_id}/rotate"): {"secret": "s3cret-9876543210"},
    ("POST", "/api/v1/reconciliation/{venue}/acknowledgements"): {"key": "fill_mismatch:x", "reason": "t"},
}
STRATEGY = {"id": "auth-sma", "name": "sma_cross", "symbols": ["BTC/USDT"]}  # made first, for {strategy_id}


def call_order(route: tuple[str, str]) -> tuple[int, bool, str]:
    """Reads, then changes, then amend, cancel one, and cancel all last, so each call finds its order."""
    method, template = route
    return (["GET", "POST", "PUT", "PATCH", "DELETE"].index(method), "{" not in template, template)


def api_routes(api: Api) -> set[tuple[str, str]]:
    """(method, path template) of every API route, including those of included routers."""
    return {
        (method, route.path)
        for route in iter_route_contexts(api.app.routes)
        if isinstance(route.original_route, APIRoute) and route.path and route.path.startswith("/api/v1")
        for method in route.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def fill_in(template: str, order_id: str = "Onosuchorder", strategy_id: str = "nosuchstrategy") -> str:
    return (
        template.replace("{order_id}", order_id)
        .replace("{key_id}", "knosuchkey")
        .replace("{strategy_id}", strategy_id)
        .replace("{job_id}", "B0123456789abcdef")
        .replace("{credential_id}", "cnosuchcredential")
        .replace("{name}", "report.html")
        .replace("{venue}", "binance")
    )


def call(
    api: Api,
    method: str,
    template: str,
    key: str | None,
    order_id: str = "Onosuchorder",
    strategy_id: str = "nosuchstrategy",
) -> Any:
    path = fill_in(template, order_id, strategy_id)
    body = BODIES.get((method, template))
    return api.request(method, path, key, **({"json": body} if body is not None else {}))


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, response.request.url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem


def test_table_covers_every_route(sqlite_api: Api) -> None:
    routes = api_routes(sqlite_api)
    assert routes - PERMISSIONS.keys() == set(), "new /api/v1 routes: give them a permission in PERMISSIONS"
    assert PERMISSIONS.keys() - routes == set(), "PERMISSIONS lists routes the app no longer has"


@pytest.mark.parametrize("credential", ["missing", "unknown", "malformed", "revoked"])
def test_every_route_refuses_requests_without_a_valid_key(sqlite_api: Api, credential: str) -> None:
    api = sqlite_api
    headers: dict[str, str] = {}
    if credential == "unknown":
        headers["Authorization"] = "Bearer tf_k000000000000_" + "x" * 43
    elif credential == "malformed":
        headers["Authorization"] = "Basic dXNlcjpwYXNz"
    elif credential == "revoked":
        secret = api.create_key("admin", "to-revoke")
        key_id = next(
            k["id"]
            for k in api.request("GET", "/api/v1/keys", api.admin_key).json()["items"]
            if k["name"] == "to-revoke"
        )
        assert api.request("GET", "/api/v1/orders", secret).status_code == 200
        assert api.request("DELETE", f"/api/v1/keys/{key_id}", api.admin_key).json()["revoked_at"] is not None
        headers["Authorization"] = f"Bearer {secret}"
    for method, template in sorted(api_routes(api)):
        path = fill_in(template)
        body = BODIES.get((method, template))
        response = api.client.request(
            method, path, headers=headers, **({"json": body} if body is not None else {})
        )
        problem = assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert problem["instance"] == path
    assert api.order_count() == 0


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_roles_are_refused_what_they_lack(sqlite_api: Api, role: Role) -> None:
    api = sqlite_api
    key = api.create_key(role.value)
    granted = ROLE_PERMISSIONS[role]
    refused = [(m, t) for (m, t), permission in sorted(PERMISSIONS.items()) if permission not in granted]
    assert refused, f"{role} should lack something"
    for method, template in refused:
        problem = assert_problem(call(api, method, template, key), 403)
        assert f"'{role.value}'" in problem["detail"]
        assert f"'{PERMISSIONS[(method, template)].value}'" in problem["detail"]
    assert api.order_count() == 0
    status = api.request("GET", "/api/v1/risk/status", api.admin_key).json()
    assert status["limits"]["max_open_orders"] == 200  # the refused PUT changed nothing


@pytest.mark.parametrize("role", list(Role))
def test_roles_may_do_what_they_are_granted(sqlite_api: Api, role: Role) -> None:
    api = sqlite_api
    key = api.admin_key if role is Role.ADMIN else api.create_key(role.value)
    order = api.request(
        "POST", "/api/v1/orders", api.admin_key, json=BODIES[("POST", "/api/v1/orders")]
    ).json()
    strategy = api.request("POST", "/api/v1/strategies", api.admin_key, json=STRATEGY)
    assert strategy.status_code == 201, strategy.text
    granted = ROLE_PERMISSIONS[role]
    allowed = sorted(
        (route for route, permission in PERMISSIONS.items() if permission in granted), key=call_order
    )
    for method, template in allowed:
        response = call(api, method, template, key, order_id=order["id"], strategy_id=STRATEGY["id"])
        assert response.status_code not in (401, 403), (method, template, response.text)
        if template.startswith(("/api/v1/backtests/", "/api/v1/credentials/", "/api/v1/reconciliation/")):
            # unknown job or credential, or no live venue to reconcile: the handler ran
            assert response.status_code == 404, response.text
        elif (method, template) == ("POST", "/api/v1/backtests"):
            assert response.status_code == 422, response.text  # no ETH/USDT bars: the handler ran
        elif method == "GET":
            assert response.status_code == 200, (template, response.text)
        elif template == "/api/v1/keys/{key_id}":
            assert response.status_code == 404  # an unknown key: the handler ran
        else:
            assert response.status_code in (200, 201), (method, template, response.text)


def test_a_key_made_for_another_account_sees_and_trades_only_that_account(sqlite_api: Api) -> None:
    api = sqlite_api
    body = BODIES[("POST", "/api/v1/orders")]
    assert api.request("POST", "/api/v1/orders", api.admin_key, json=body).status_code == 201
    made = api.request(
        "POST",
        "/api/v1/keys",
        api.admin_key,
        json={"name": "research", "role": "trader", "account_id": "research"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["account_id"] == "research"
    secret = made.json()["secret"]
    assert api.request("GET", "/api/v1/orders", secret).json()["items"] == []
    assert api.request("GET", "/api/v1/balances", secret).json()["items"] == []
    placed = api.request("POST", "/api/v1/orders", secret, json=body).json()
    assert placed["account_id"] == "research"  # an empty account: refused by risk, on its own books
    assert placed["status"] == "rejected" and "insufficient" in placed["reject_reason"]

    bad = api.request(
        "POST", "/api/v1/keys", api.admin_key, json={"name": "x", "role": "viewer", "account_id": "no spaces"}
    )
    problem = assert_problem(bad, 422)
    assert "account_id" in json.dumps(problem)
