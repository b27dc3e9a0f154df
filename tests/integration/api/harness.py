"""Harness for API tests: start the real app (lifespan, database, paper venue) and call it as a key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tradeforge.api.app import create_app
from tradeforge.domain.data import Bar
from tradeforge.runtime.settings import Settings
from tradeforge.runtime.system import TradingSystem

REPO_ROOT = Path(__file__).resolve().parents[3]
BTC_SAMPLE = REPO_ROOT / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"


def api_settings(database_url: str, var_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test app: no replay feed, no strategies, a fixed starting balance, and no throttle
    interference."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "var_dir": var_dir,
        "feeds": (),
        "starting_balances": {"USDT": Decimal("100000"), "BTC": Decimal("0"), "ETH": Decimal("0")},
        "risk": {"max_submits_per_second": None},
        "strategies": (),
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Api:
    """A started app and its client, with helpers to call it as a given key."""

    app: FastAPI
    client: TestClient
    admin_key: str

    @property
    def system(self) -> TradingSystem:
        system: TradingSystem = self.app.state.system
        return system

    def request(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        response: httpx.Response = self.client.request(method, path, headers=headers, **kwargs)
        return response

    def create_key(self, role: str, name: str | None = None) -> str:
        response = self.request(
            "POST", "/api/v1/keys", self.admin_key, json={"name": name or role, "role": role}
        )
        assert response.status_code == 201, response.text
        secret: str = response.json()["secret"]
        return secret

    def feed(self, *bars: Bar) -> None:
        """Process bars on the event loop thread (where engine state lives) and wait until durable."""
        portal = self.client.portal
        assert portal is not None, "the client must be started (used as a context manager)"
        for bar in bars:
            handle = portal.call(self.system.process_bar, bar)
            if handle.committed is not None:
                handle.committed.result(timeout=30)

    def order_count(self) -> int:
        response = self.request("GET", "/api/v1/orders", self.admin_key, params={"limit": 500})
        assert response.status_code == 200, response.text
        return len(response.json()["items"])

    def balances(self) -> dict[str, dict[str, str]]:
        response = self.request("GET", "/api/v1/balances", self.admin_key)
        assert response.status_code == 200, response.text
        return {item["asset"]: item for item in response.json()["items"]}


def start_api(settings: Settings) -> Iterator[Api]:
    app = create_app(settings, replay=False, tune_gc=False)
    with TestClient(app) as client:
        key_file = settings.admin_key_file
        admin_key = key_file.read_text().strip() if key_file.exists() else ""
        yield Api(app, client, admin_key)
