"""A strategy shipped in its own pip-installed package is found by its entry point and runs unchanged
in a backtest (`tradeforge backtest`) and on paper (the service)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
from tests.e2e.processes import TRADEFORGE, service_environment, start_service

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"
WAIT_S = 90.0  # a bound on waiting for the replay, not a speed assertion

PLUGIN_PROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "tradeforge-dip-buyer"
version = "1.0.0"

[project.entry-points."tradeforge.strategies"]
dip_buyer = "dip_buyer:DipBuyer"
"""

PLUGIN_MODULE = '''\
"""A third-party strategy: buys a dip of `drop` below the previous close, sells `hold` bars later."""

from dataclasses import dataclass
from decimal import Decimal

from tradeforge.strategies import BarView, Strategy


@dataclass(frozen=True)
class DipBuyerConfig:
    drop: float = 0.001
    hold: int = 5
    quantity: Decimal = Decimal("0.01")


class DipBuyer(Strategy[DipBuyerConfig]):
    name = "dip_buyer"
    description = "Buys a one-bar dip, sells a few bars later"
    config_class = DipBuyerConfig

    def on_start(self) -> None:
        self.state.setdefault("held_for", None)
        self._previous = None

    def on_bar(self, bar: BarView) -> None:
        held_for = self.state["held_for"]
        if held_for is not None:
            held_for += 1
            if held_for >= self.config.hold:
                self.ctx.market(bar.symbol, "sell", self.config.quantity)
                held_for = None
            self.state["held_for"] = held_for
        elif self._previous is not None and bar.close < self._previous * (1 - self.config.drop):
            self.ctx.market(bar.symbol, "buy", self.config.quantity)
            self.state["held_for"] = 0
        self._previous = bar.close
'''


def install_plugin(tmp_path: Path) -> Path:
    """pip-install the plugin package into its own directory (not the project's environment)."""
    source = tmp_path / "plugin"
    source.mkdir()
    (source / "pyproject.toml").write_text(PLUGIN_PROJECT)
    (source / "dip_buyer.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    target = tmp_path / "site"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"),
            *("--target", str(target), str(source)),
        ],
        check=True,
        capture_output=True,
    )
    assert (target / "dip_buyer.py").exists()
    return target


def with_plugin(env: dict[str, str], site: Path) -> dict[str, str]:
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))}


def test_an_entry_point_strategy_backtests_and_trades_on_paper_unchanged(tmp_path: Path) -> None:
    site = install_plugin(tmp_path)
    data = tmp_path / "bars.parquet"
    pq.write_table(pq.read_table(SAMPLE).slice(0, 1_000), data)

    base_env = service_environment(tmp_path / "var", f"sqlite:///{tmp_path / 'plugin.db'}")
    result = subprocess.run(
        [str(TRADEFORGE), "backtest", "--strategy", "dip_buyer", "--data", str(data), "--json"],
        env=with_plugin(base_env, site),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["strategy"] == "dip_buyer" and summary["orders"] > 10 and summary["trades"] > 5

    strategies = [{"id": "dips", "name": "dip_buyer", "symbols": ["BTC/USDT"], "params": {"hold": 3}}]
    env = with_plugin(
        {
            **base_env,
            "TRADEFORGE_STRATEGIES": json.dumps(strategies),
            "TRADEFORGE_FEEDS": json.dumps([{"symbol": "BTC/USDT", "path": str(data)}]),
            "TRADEFORGE_REPLAY_SPEED": "600000",
            "TRADEFORGE_REPLAY_LOOP": "false",
            "TRADEFORGE_RISK": json.dumps({"max_submits_per_second": None}),
        },
        site,
    )
    service = start_service(env, tmp_path, tmp_path / "service.log")
    try:
        headers = {"Authorization": f"Bearer {(tmp_path / 'var' / 'admin.key').read_text().strip()}"}
        available = httpx.get(f"{service.url}/api/v1/strategies/available", headers=headers, timeout=10)
        assert "dip_buyer" in {item["name"] for item in available.json()["items"]}
        deadline = time.monotonic() + WAIT_S
        while True:
            hosted = httpx.get(f"{service.url}/api/v1/strategies", headers=headers, timeout=10).json()
            view = next(item for item in hosted["items"] if item["id"] == "dips")
            if view["fills"] > 10 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        service.stop()
    assert view["status"] == "running", view
    assert view["fills"] > 10
