"""Build hook: with TRADEFORGE_COMPILE=1 the hot-path modules are compiled with mypyc (ADR 7).

The default install (`make run`, `make test`) is pure Python. `make bench` and `make test-compiled`
build the compiled variant into .venv-compiled; everything else is declared in pyproject.toml."""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup

# The order path and the backtest loop's engines: domain, OMS, risk, portfolio, paper venue, the
# strategy runner and context, and the event codec. (The SQL repositories stay interpreted: their
# annotations name tuples where SQLAlchemy hands over Row objects, which compiled code refuses.)
# Each must type-check under mypy --strict (mypyc relies on the types).
# A compiled class cannot be subclassed by interpreted code unless it says so (mypyc_attr
# allow_interpreted_subclasses, as Event and Command do): errors stay interpreted; a module
# subclassing any other compiled class is compiled too.
COMPILED = [
    "domain/balances.py",
    "domain/commands.py",
    "domain/copies.py",
    "domain/data.py",
    "domain/events.py",
    "domain/fills.py",
    "domain/identifiers.py",
    "domain/instruments.py",
    "domain/orders.py",
    "domain/positions.py",
    "domain/values.py",
    "bus/codec.py",
    "bus/message_bus.py",
    "bus/topics.py",
    "engine/instruments.py",
    "engine/journal.py",
    "engine/order_cache.py",
    "engine/order_manager.py",
    "engine/portfolio.py",
    "engine/recorder.py",
    "engine/risk_engine.py",
    "engine/risk_rules.py",
    "engine/risk_view.py",
    "adapters/clocks.py",
    "adapters/paper/accounts.py",
    "adapters/paper/book.py",
    "adapters/paper/matching.py",
    "adapters/paper/slippage.py",
    "adapters/paper/venue.py",
    "strategies/context.py",
    "strategies/emulation.py",
    "strategies/runner.py",
    "backtest/drive.py",
    "backtest/feed.py",
    "indicators/exact.py",
]

ext_modules = []
if os.environ.get("TRADEFORGE_COMPILE") == "1":
    from mypyc.build import mypycify

    package = Path("src") / "tradeforge"
    ext_modules = mypycify([str(package / name) for name in COMPILED], opt_level="3", debug_level="0")

setup(ext_modules=ext_modules)
