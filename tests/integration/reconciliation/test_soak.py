"""The acceptance soak (issue #4): per venue at least 1,000 orders under seeded random faults, with
reconciliation running while trading; afterwards orders, fills, balances and positions equal the
emulator's exactly, and no client id was sent twice. Prints the faults injected and the corrections.

The four venues run at once, one child process each (their time is mostly spent waiting out
injected timeouts); TRADEFORGE_SOAK_ORDERS scales it (default 1,000 per venue)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from tests.integration.ccxt_adapter.support import VENUES

from .soak import run_soak

pytestmark = pytest.mark.timeout(600)  # a slow 2-core host: four venues share it

ORDERS = int(os.environ.get("TRADEFORGE_SOAK_ORDERS", "1000"))
SEED = 20_261
REQUEST_FAULTS = ("timeout", "drop", "server_error", "rate_limit")
OUT_OF_BAND = ("oob_fill", "oob_partial_fill", "oob_cancel")


def _table(results: list[dict[str, Any]]) -> str:
    lines = [f"\nreconciliation soak, seed {SEED}, >= {ORDERS} orders per venue"]
    for r in results:
        lines.append(
            f"{r['venue']:>8}: {r['orders_on_venue']} orders on the venue "
            f"({r['orders_submitted']} submitted, "
            f"{r['venue_rejected']} rejected by the venue), venue gate held {r['gate_holds']} times "
            f"({r['gate_rejected']} orders refused), "
            f"{r['cancels']} cancels, {r['amends']} amends, {r['fills']} fills, "
            f"{r['seconds']} s"
        )
        lines.append(
            f"{'':>10}reconciliation runs: {r['runs_by_trigger']}, "
            f"breaker transitions: {r['breaker_transitions']}"
        )
        lines.append(f"{'':>10}faults injected: {r['faults']}")
        lines.append(f"{'':>10}corrections made: {r['corrections']} (final run: {r['final_corrections']})")
        lines.append(
            f"{'':>10}discrepancies left: {len(r['final_discrepancies'])}, duplicated orders: "
            f"{r['duplicated_orders']}, problems: {len(r['problems'])}"
        )
    return "\n".join(lines)


def test_randomized_fault_soak_ends_with_books_equal_to_every_venue() -> None:
    context = multiprocessing.get_context("spawn")  # a clean interpreter per venue, no forked loop
    with ProcessPoolExecutor(max_workers=len(VENUES), mp_context=context) as pool:
        results = list(pool.map(run_soak, VENUES, [ORDERS] * len(VENUES), [SEED] * len(VENUES)))
    print(_table(results))
    for r in results:
        venue = r["venue"]
        assert r["problems"] == [], (venue, r["problems"][:20])
        assert r["final_discrepancies"] == [] and r["duplicated_orders"] == 0, venue
        assert r["orders_on_venue"] >= ORDERS, venue
        assert all(r["faults"].get(kind, 0) > 0 for kind in REQUEST_FAULTS + OUT_OF_BAND), (
            venue,
            r["faults"],
        )
        assert sum(r["corrections"].values()) > 0, venue
        assert r["errors_logged"] == [], (venue, r["errors_logged"])
