"""API fixtures: the real app behind a TestClient (SQLite and PostgreSQL), and real BTC/USDT bars."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.api.harness import BTC_SAMPLE, Api, api_settings, start_api

from tradeforge.adapters.market_data.bar_files import BarFile
from tradeforge.domain.data import Bar
from tradeforge.domain.instruments import Instrument
from tradeforge.runtime.bootstrap import instruments_from_settings
from tradeforge.runtime.settings import Settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return api_settings(database_url, tmp_path / "var")


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    """The app on SQLite and on PostgreSQL (through the database_url fixture)."""
    yield from start_api(settings)


@pytest.fixture
def sqlite_api(sqlite_url: str, tmp_path: Path) -> Iterator[Api]:
    """The app on SQLite only, for tests about the HTTP layer rather than storage."""
    yield from start_api(api_settings(sqlite_url, tmp_path / "var"))


@pytest.fixture(scope="session")
def btc_instrument() -> Instrument:
    instruments = {i.symbol: i for i in instruments_from_settings(Settings(feeds=()))}
    return instruments["BTC/USDT"]


@pytest.fixture(scope="session")
def btc_bars(btc_instrument: Instrument) -> list[Bar]:
    """The first day of the real BTC/USDT 1m sample, on the instrument's tick grid."""
    bars = []
    for bar in BarFile(BTC_SAMPLE, btc_instrument, "1m").bars():
        bars.append(bar)
        if len(bars) == 1440:
            break
    return bars
