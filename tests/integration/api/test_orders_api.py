"""Orders over REST against the real app, paper venue and database (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.integration.api.harness import Api, start_api

from tradeforge.domain.data import Bar
from tradeforge.domain.values import round_to_step
from tradeforge.runtime.settings import Settings

ORDERS = "/api/v1/orders"
TICK = Decimal("0.01")
TAKER_FEE = Decimal("0.001")


def market(quantity: str, side: str = "buy", **extra: Any) -> dict[str, Any]:
    return {"symbol": "BTC/USDT", "side": side, "type": "market", "quantity": quantity, **extra}


def limit(quantity: str, price: Decimal | str, side: str = "buy", **extra: Any) -> dict[str, Any]:
    return {
        "symbol": "BTC/USDT",
        "side": side,
        "type": "limit",
        "quantity": quantity,
        "price": str(price),
        **extra,
    }


def below(bar: Bar, fraction: str = "0.97") -> Decimal:
    """A price under the bar's low (so a buy rests) yet inside the default 5 % price band."""
    return round_to_step(bar.close * Decimal(fraction), TICK)


def submit(api: Api, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = api.request("POST", ORDERS, api.admin_key, json=body, **kwargs)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def test_market_order_fills_and_books_exactly(api: Api, btc_bars: list[Bar]) -> None:
    api.feed(*btc_bars[:3])
    last = btc_bars[2].close
    order = submit(api, market("0.01"))

    assert order["status"] == "filled"
    assert order["filled_quantity"] == "0.01" and order["remaining_quantity"] == "0"
    assert Decimal(order["average_price"]) == last
    notional = Decimal("0.01") * last
    fee = notional * TAKER_FEE
    assert Decimal(order["fees"]) == fee

    fills = api.request("GET", "/api/v1/fills", api.admin_key, params={"order_id": order["id"]}).json()[
        "items"
    ]
    assert len(fills) == 1
    fill = fills[0]
    assert (fill["quantity"], fill["side"], fill["fee_asset"], fill["liquidity"]) == (
        "0.01",
        "buy",
        "USDT",
        "taker",
    )
    assert (
        Decimal(fill["price"]) == last
        and Decimal(fill["notional"]) == notional
        and Decimal(fill["fee"]) == fee
    )

    positions = api.request("GET", "/api/v1/positions", api.admin_key).json()["items"]
    assert [(p["symbol"], p["quantity"], p["side"]) for p in positions] == [("BTC/USDT", "0.01", "long")]
    assert Decimal(positions[0]["average_price"]) == last
    assert Decimal(positions[0]["mark_price"]) == last

    balances = api.balances()
    assert all(
        isinstance(value, str)
        for item in balances.values()
        for key, value in item.items()
        if key != "updated_at"
    )
    assert Decimal(balances["USDT"]["total"]) == Decimal("100000") - notional - fee
    assert balances["BTC"]["total"] == "0.01"
    assert balances["USDT"]["locked"] == "0"


def test_limit_order_rests_then_amend_and_cancel(api: Api, btc_bars: list[Bar]) -> None:
    api.feed(*btc_bars[:3])
    price = below(btc_bars[2])
    order = submit(api, limit("0.01", price))
    assert order["status"] == "open"
    assert Decimal(order["price"]) == price

    balances = api.balances()
    assert Decimal(balances["USDT"]["locked"]) > 0
    assert Decimal(balances["USDT"]["free"]) == Decimal(balances["USDT"]["total"]) - Decimal(
        balances["USDT"]["locked"]
    )

    new_price = price - Decimal("10.5")
    amended = api.request(
        "PATCH", f"{ORDERS}/{order['id']}", api.admin_key, json={"quantity": "0.02", "price": str(new_price)}
    )
    assert amended.status_code == 200, amended.text
    body = amended.json()
    assert (body["status"], body["quantity"], Decimal(body["price"])) == ("open", "0.02", new_price)
    assert api.request("GET", f"{ORDERS}/{order['id']}", api.admin_key).json()["quantity"] == "0.02"

    cancelled = api.request("DELETE", f"{ORDERS}/{order['id']}", api.admin_key)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert api.balances()["USDT"]["locked"] == "0"

    again = api.request("DELETE", f"{ORDERS}/{order['id']}", api.admin_key)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    late_amend = api.request("PATCH", f"{ORDERS}/{order['id']}", api.admin_key, json={"price": str(price)})
    assert late_amend.status_code == 409
    missing = api.request("GET", f"{ORDERS}/Onosuchorder", api.admin_key)
    assert missing.status_code == 404


def test_cancel_all_and_by_symbol(api: Api, btc_bars: list[Bar]) -> None:
    api.feed(*btc_bars[:3])
    btc = [submit(api, limit("0.001", below(btc_bars[2], f"0.9{i}"))) for i in (6, 7)]
    eth = submit(
        api, {"symbol": "ETH/USDT", "side": "buy", "type": "limit", "quantity": "0.1", "price": "1500"}
    )

    response = api.request("DELETE", ORDERS, api.admin_key, params={"symbol": "btc/usdt"})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert sorted(o["id"] for o in items) == sorted(o["id"] for o in btc)
    assert {o["status"] for o in items} == {"cancelled"}
    assert api.request("GET", f"{ORDERS}/{eth['id']}", api.admin_key).json()["status"] == "open"

    rest = api.request("DELETE", ORDERS, api.admin_key).json()["items"]
    assert [o["id"] for o in rest] == [eth["id"]]
    assert api.request("DELETE", ORDERS, api.admin_key).json() == {"items": []}


def test_list_filters_and_cursor_pagination(api: Api, btc_bars: list[Bar]) -> None:
    api.feed(*btc_bars[:3])
    resting = [submit(api, limit("0.001", below(btc_bars[2]), strategy_id="grid")) for _ in range(5)]
    filled = submit(api, market("0.001", strategy_id="momentum"))
    eth = submit(
        api, {"symbol": "ETH/USDT", "side": "buy", "type": "limit", "quantity": "0.1", "price": "1500"}
    )
    created = [o["id"] for o in [*resting, filled, eth]]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.request("GET", ORDERS, api.admin_key, params=params).json()
        assert len(page["items"]) <= 2
        seen.extend(o["id"] for o in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 4
    assert seen == sorted(created, reverse=True)  # newest first, each exactly once

    def ids(**params: Any) -> set[str]:
        response = api.request("GET", ORDERS, api.admin_key, params=params)
        assert response.status_code == 200, response.text
        return {o["id"] for o in response.json()["items"]}

    assert ids(status="filled") == {filled["id"]}
    assert ids(status=["filled", "open"]) == set(created)
    assert ids(status="open", symbol="ETH/USDT") == {eth["id"]}
    assert ids(symbol="btc/usdt") == {o["id"] for o in [*resting, filled]}
    assert ids(strategy_id="grid") == {o["id"] for o in resting}
    assert ids(status="cancelled") == set()


def test_idempotency_key_replays_the_first_response(api: Api, btc_bars: list[Bar]) -> None:
    api.feed(*btc_bars[:3])
    headers = {"Idempotency-Key": "retry-7f3a"}
    first = api.request("POST", ORDERS, api.admin_key, json=market("0.002"), headers=headers)
    assert first.status_code == 201, first.text
    balances = api.balances()

    # Same request, keys in another order and the quantity spelled differently: the same request.
    replay_body = {"quantity": "0.0020", "type": "market", "side": "buy", "symbol": "btc/usdt"}
    replay = api.request("POST", ORDERS, api.admin_key, json=replay_body, headers=headers)
    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert api.order_count() == 1
    assert api.balances() == balances

    reused = api.request("POST", ORDERS, api.admin_key, json=market("0.003"), headers=headers)
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in reused.json()["detail"]
    assert api.order_count() == 1
    assert api.balances() == balances


def test_same_client_order_id_never_creates_a_second_order(api: Api, btc_bars: list[Bar]) -> None:
    api.feed(*btc_bars[:3])
    body = limit("0.001", below(btc_bars[2]), client_order_id="my-order-1")
    first = api.request("POST", ORDERS, api.admin_key, json=body)
    assert first.status_code == 201
    second = api.request("POST", ORDERS, api.admin_key, json=body)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["client_order_id"] == "my-order-1"

    conflict = api.request("POST", ORDERS, api.admin_key, json={**body, "quantity": "0.002"})
    assert conflict.status_code == 409
    assert conflict.json()["type"].endswith("client-order-id-conflict")
    assert api.order_count() == 1


def test_risk_rejection_is_kept_with_its_reason(api: Api, btc_bars: list[Bar]) -> None:
    api.feed(*btc_bars[:3])
    limits = api.request(
        "PUT",
        "/api/v1/risk/limits",
        api.admin_key,
        json={"per_symbol": {"btc/usdt": {"max_order_quantity": "0.005"}}},
    )
    assert limits.status_code == 200, limits.text
    assert limits.json()["per_symbol"]["BTC/USDT"]["max_order_quantity"] == "0.005"
    balances = api.balances()

    rejected = submit(api, market("0.01"))
    assert rejected["status"] == "rejected"
    assert "max_order_quantity" in rejected["reject_reason"]
    stored = api.request("GET", f"{ORDERS}/{rejected['id']}", api.admin_key).json()
    assert (stored["status"], stored["reject_reason"]) == ("rejected", rejected["reject_reason"])
    listed = api.request("GET", ORDERS, api.admin_key, params={"status": "rejected"}).json()["items"]
    assert [o["id"] for o in listed] == [rejected["id"]]
    assert api.balances() == balances

    assert submit(api, market("0.005"))["status"] == "filled"


def test_kill_switch_rejects_the_next_order_with_its_reason(api: Api, btc_bars: list[Bar]) -> None:
    api.feed(*btc_bars[:3])
    resting = submit(api, limit("0.001", below(btc_bars[2])))
    engaged = api.request(
        "POST",
        "/api/v1/risk/kill-switch",
        api.admin_key,
        json={"engaged": True, "reason": "exchange incident", "cancel_open_orders": True},
    )
    assert engaged.status_code == 200, engaged.text
    assert (engaged.json()["state"], engaged.json()["reason"]) == ("halted", "exchange incident")
    assert api.request("GET", f"{ORDERS}/{resting['id']}", api.admin_key).json()["status"] == "cancelled"

    refused = submit(api, market("0.001"))
    assert refused["status"] == "rejected"
    assert refused["reject_reason"] == "trading is halted: exchange incident"

    released = api.request(
        "POST", "/api/v1/risk/kill-switch", api.admin_key, json={"engaged": False, "reason": "resolved"}
    )
    assert released.json()["state"] == "active"
    assert submit(api, market("0.001"))["status"] == "filled"

    reducing = api.request(
        "POST", "/api/v1/risk/state", api.admin_key, json={"state": "reducing", "reason": "eod"}
    )
    assert reducing.status_code == 200 and reducing.json()["state"] == "reducing"
    assert submit(api, market("0.001"))["status"] == "rejected"  # would increase the long position
    assert submit(api, market("0.001", side="sell"))["status"] == "filled"

    audit = api.request("GET", "/api/v1/audit", api.admin_key, params={"action": "risk.state"}).json()[
        "items"
    ]
    assert [entry["target"] for entry in audit] == ["reducing", "active", "halted"]
    assert audit[-1]["details"] == {"reason": "exchange incident"}


def test_orders_survive_a_restart(settings: Settings, btc_bars: list[Bar], tmp_path: Path) -> None:
    runs = start_api(settings)
    api = next(runs)
    api.feed(*btc_bars[:3])
    filled = submit(api, market("0.001"))
    resting = submit(api, limit("0.001", below(btc_bars[2])))
    next(runs, None)

    runs = start_api(settings)
    api = next(runs)
    assert api.request("GET", f"{ORDERS}/{filled['id']}", api.admin_key).json() == filled
    assert api.request("GET", f"{ORDERS}/{resting['id']}", api.admin_key).json()["status"] == "open"
    assert api.balances()["BTC"]["total"] == "0.001"
    cancelled = api.request("DELETE", f"{ORDERS}/{resting['id']}", api.admin_key)
    assert cancelled.json()["status"] == "cancelled"
    next(runs, None)
