"""The FastAPI application: create_app(settings) wires routers, errors, metrics and the system's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tradeforge.adapters.market_data.bar_files import BarFile
from tradeforge.api.deps import KeyCache
from tradeforge.api.errors import Problem, install_error_handlers
from tradeforge.api.routes import ROUTERS
from tradeforge.api.routing import DirectLane, DirectRoute
from tradeforge.observability.logging import configure_logging
from tradeforge.observability.metrics import Metrics, MetricsMiddleware
from tradeforge.runtime.bootstrap import Mode, build
from tradeforge.runtime.first_run import ensure_admin_key
from tradeforge.runtime.replay import ReplayFeed
from tradeforge.runtime.service import TradingService, add_strategy
from tradeforge.runtime.settings import Settings
from tradeforge.runtime.system import TradingSystem

logger = logging.getLogger(__name__)

API_VERSION = "1.0.0"
TAGS = [
    {"name": "orders", "description": "Submit, amend, cancel and look up orders."},
    {"name": "portfolio", "description": "Positions, balances and fills derived from executions."},
    {"name": "risk", "description": "Pre-trade limits, the kill switch and the trading state."},
    {"name": "strategies", "description": "Strategies hosted by the service: status, PnL, start and stop."},
    {"name": "backtests", "description": "Backtests run as background jobs, with downloadable reports."},
    {"name": "keys", "description": "API keys and their roles (admin)."},
    {"name": "audit", "description": "Who changed what, when (admin)."},
    {"name": "health", "description": "Liveness, readiness and Prometheus metrics."},
]
DESCRIPTION = """\
TradeForge's REST API. Authenticate with `Authorization: Bearer <api key>`.

* Decimals (prices, quantities, balances) are JSON strings in responses; send them as strings too
  (JSON numbers are read exactly from their text).
* Every error is `application/problem+json` (RFC 9457); invalid input names each offending field in
  `errors` and changes nothing.
* Lists answer `{"items": [...], "next_cursor": ...}`; pass `next_cursor` back as `cursor`.
* `POST /api/v1/orders` takes an optional `Idempotency-Key` header that replays the first response.
"""


def _replay_files(system: TradingSystem, settings: Settings) -> list[BarFile]:
    return [
        BarFile(feed.path, system.instruments.get("paper", feed.symbol), feed.timeframe)
        for feed in settings.feeds
    ]


def _start(
    settings: Settings, loop: asyncio.AbstractEventLoop, replay: bool
) -> tuple[TradingSystem, ReplayFeed | None]:
    """Blocking start-up work, run off the event loop: build() waits for its recovery commit, which
    the journal hands back through the loop."""
    system = build(settings, Mode.PAPER, loop=loop)
    try:
        ensure_admin_key(system, settings.admin_key_file)
        _start_strategies(system, settings)
        feed = None
        if replay and settings.feeds:
            feed = ReplayFeed(
                system, _replay_files(system, settings), settings.replay_speed, settings.replay_loop
            )
    except BaseException:
        system.close()
        raise
    return system, feed


def _start_strategies(system: TradingSystem, settings: Settings) -> None:
    """Add settings.strategies (after recovery, before any bar) and start the enabled ones. A bad
    entry stops the start-up, naming it: the service should not trade without a configured strategy."""
    if not settings.strategies:
        return
    with system.recorder.unit():
        for item in settings.strategies:
            prefix = f"strategies.{item.id}."
            add_strategy(system, item.id, item.name, item.symbols, item.timeframe, item.params, prefix)
            if item.enabled:
                system.strategies.start(item.id)
    system.journal.flush()
    logger.info(
        "strategies: %s", ", ".join(f"{v.strategy_id} {v.status}" for v in system.strategies.status())
    )


TIMER_INTERVAL_S = 1.0


async def _run_timer(system: TradingSystem, stop: asyncio.Event) -> None:
    """Drive the venues' housekeeping (GTD expiry without new bars) once a second until stopped."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=TIMER_INTERVAL_S)
        except TimeoutError:
            try:
                system.on_timer()
            except Exception:
                logger.exception("venue housekeeping failed; the timer carries on")


# A young collection after this many new container objects instead of CPython's 700: with a few
# dozen requests in flight, 700 is crossed by live request objects alone, which then get traversed
# (and promoted) over and over.
GC_YOUNG_THRESHOLD = 10_000


@contextlib.contextmanager
def _long_lived_heap(enabled: bool) -> Iterator[None]:
    """While serving, keep the cyclic garbage collector off what start-up built. The ~200,000 objects
    of the libraries, the app and the recovered state never become garbage, but every full
    collection traversed them all: ~150 ms on this project's 2-core machine, once a second or more at
    1,000 orders/s (a fifth of the CPU, and the whole p99 tail). Frozen, they are skipped; everything
    created later is collected as before. Undone on shutdown."""
    if not enabled:
        yield
        return
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def _lifespan(
    settings: Settings, replay: bool, tune_gc: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        system, feed = await asyncio.to_thread(_start, settings, loop, replay)
        with _long_lived_heap(tune_gc):
            metrics: Metrics = app.state.metrics
            metrics.bind(system)
            metrics.bind_replay(feed)
            stop = asyncio.Event()
            task = asyncio.create_task(feed.run(stop), name="tradeforge-replay") if feed is not None else None
            if task is not None:
                task.add_done_callback(_report_replay_end)
            timer = asyncio.create_task(_run_timer(system, stop), name="tradeforge-timer")
            app.state.system = system
            app.state.service = TradingService(system)
            app.state.replay = feed
            logger.info(
                "TradeForge API started (mode %s, %d replay feeds)",
                system.mode,
                len(settings.feeds) if feed else 0,
            )
            try:
                yield
            finally:
                stop.set()
                await asyncio.gather(timer, return_exceptions=True)
                if task is not None:
                    # A feed that failed was already reported by _report_replay_end; stopping goes on.
                    await asyncio.gather(task, return_exceptions=True)
                app.state.service = None
                app.state.system = None
                jobs = getattr(app.state, "backtests", None)
                if jobs is not None:
                    jobs.close()
                # close() waits for the journal thread, whose last commits are handed back through the loop.
                await asyncio.to_thread(system.close)
                logger.info("TradeForge API stopped")

    return lifespan


def _report_replay_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("replay feed stopped with an error", exc_info=task.exception())


def create_app(settings: Settings, *, replay: bool = True, tune_gc: bool = True) -> FastAPI:
    """A new application for `settings`. Nothing is shared between two apps; the trading system is
    built when the app starts (lifespan) and closed when it stops. `tune_gc` (for a process that
    serves this app) freezes the start-up heap out of garbage collection while it runs."""
    app = FastAPI(
        title="TradeForge",
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=_lifespan(settings, replay, tune_gc),
    )
    metrics = Metrics()
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.system = None
    app.state.service = None
    app.state.replay = None
    app.state.key_cache = KeyCache()
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    # The routers are included as they are (no prefix, no added dependencies), so a DirectRoute's own
    # path and parameters are what the app serves; DirectLane relies on that. Added before the
    # metrics middleware, it sits inside it.
    direct = [route for router in ROUTERS for route in router.routes if isinstance(route, DirectRoute)]
    app.add_middleware(DirectLane, routes=direct)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the Problem schema that every error response refers to."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["Problem"] = problem_schema
    # FastAPI's default validation error schemas are unused: every 422 is documented as a Problem.
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory tradeforge.api.app:app_factory` (settings from the environment)."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)
