"""Live venues in the service: ccxt venues built from settings, started on the engine loop, health for /ready.

`start_live_venues()` is what the composition root calls in PAPER mode (the service): for each enabled
entry of `settings.venues` it loads the stored credential (`load_credentials`, master key from
TRADEFORGE_MASTER_KEY or var/master.key), builds a CcxtVenue with `make_ccxt_venue` on a traced
session (optionally redirected by the test/dev transport override), starts it on the loop and adds
its instruments to the registry. Each is wrapped in a `LiveVenue`: the Venue port for the OMS, a
RoutableVenue for the router (health and warm order books), and the health /ready and /metrics show.

A venue that cannot start (exchange unreachable) does not stop the service: it is listed down and
started again every `start_retry_s`; orders recovered for it wait until it is up. A configuration
problem (no such credential, sandbox mismatch, no master key) does stop the start, naming it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradeforge.domain.balances import Balance
from tradeforge.domain.commands import SubmitOrder
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order
from tradeforge.engine.instruments import InstrumentRegistry
from tradeforge.ports.clock import Clock
from tradeforge.ports.persistence import UnitOfWorkFactory
from tradeforge.ports.venue import VenueReportSink
from tradeforge.runtime.venue_settings import VenueSettings

if TYPE_CHECKING:
    from tradeforge.adapters.ccxt.books import OrderBookSnapshot, VenueBooks
    from tradeforge.adapters.ccxt.transport import RequestStats
    from tradeforge.adapters.ccxt.venue import CcxtVenue
    from tradeforge.engine.reconciliation_report import VenueGate
    from tradeforge.runtime.settings import Settings
    from tradeforge.runtime.system import TradingSystem

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 30.0
_DETAIL_LIMIT = 240


@dataclass(frozen=True, slots=True)
class VenueHealth:
    """One venue as /ready and /metrics report it.

    state: "up" (paper), the breaker state of a ccxt venue (closed, open, half_open), or
    "not_connected" (it could not start yet). up: it is connected and its circuit closed.
    trading: the reconciliation gate's state (active, reducing, halted) and trading_reason why."""

    name: str
    kind: str
    up: bool
    state: str
    sandbox: bool | None = None
    remaining_budget: float | None = None
    budget_capacity: float | None = None
    consecutive_failures: int = 0
    transitions: int = 0
    last_failure: str = ""
    requests: int = 0
    errors: Mapping[str, int] = field(default_factory=dict)
    book_ages_s: Mapping[str, float] = field(default_factory=dict)
    stats: RequestStats | None = None
    trading: str = "active"
    trading_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "up": self.up,
            "state": self.state,
            "sandbox": self.sandbox,
            "remaining_budget": None if self.remaining_budget is None else round(self.remaining_budget, 3),
            "consecutive_failures": self.consecutive_failures,
            "last_failure": self.last_failure[:_DETAIL_LIMIT],
            "trading": self.trading,
            "trading_reason": self.trading_reason[:_DETAIL_LIMIT],
        }


class LiveVenue:
    """A CcxtVenue as the service runs it. Port calls and the timer run on the loop's thread."""

    def __init__(
        self,
        settings: VenueSettings,
        venue: CcxtVenue,
        books: VenueBooks,
        stats: RequestStats,
        registry: InstrumentRegistry,
        clock: Clock,
    ) -> None:
        self.name = venue.name
        self.settings = settings
        self.venue = venue
        self.books = books
        self.stats = stats
        self._registry = registry
        self._clock = clock
        self._ready = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starting: asyncio.Task[bool] | None = None
        self._last_attempt_ms: int | None = None
        self.start_error = "not started"
        self._deferred_restore: list[tuple[list[Order], list[Balance]]] = []
        self._deferred_submits: list[Order] = []
        # Set by the service's reconciliation (runtime/reconcilers.py): its gate, and what to do
        # each time the venue has (re)started.
        self.gate: VenueGate | None = None
        self.on_ready: list[Callable[[], None]] = []
        venue.client.breaker.on_change(self._breaker_changed)

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._ready

    async def start(self) -> bool:
        """Connect, load instruments and the first books; False (and retried later) on failure."""
        self._loop = asyncio.get_running_loop()
        self._last_attempt_ms = self._clock.now_ms()
        timeout = self.settings.timeout_ms / 1000 * 3 + 5
        try:
            await asyncio.wait_for(self.venue.start(), timeout)
        except Exception as error:  # the exchange's or the transport's: the venue stays down, retried
            self.start_error = _short(f"{type(error).__name__}: {error}")
            logger.warning(
                "%s could not start (retrying every %ss): %s",
                self.name,
                self.settings.start_retry_s,
                self.start_error,
            )
            return False
        for instrument in self.venue.instruments():
            self._registry.add(instrument)
        self._ready = True
        self.start_error = ""
        for working, balances in self._deferred_restore:
            self.venue.restore(working, balances)
        for order in self._deferred_submits:
            self.venue.submit(order)
        self._deferred_restore.clear()
        self._deferred_submits.clear()
        arrived = await self.books.refresh_all()
        logger.info(
            "%s started (%s): %d instruments, %d/%d order books",
            self.name,
            "sandbox" if self.settings.sandbox else "LIVE",
            len(self.venue.instruments()),
            arrived,
            len(self.books.watched),
        )
        for callback in self.on_ready:
            callback()
        return True

    async def _restart(self) -> bool:
        """Start again. The failed attempts may have opened the circuit, which then lets only a
        probe through: send it once the cool-down made it half-open, start when it closed."""
        breaker = self.venue.client.breaker
        if breaker.state == "half_open" and self.venue.client.handle.exchange is not None:
            await self.venue.probe()
        if breaker.state != "closed":
            self._last_attempt_ms = self._clock.now_ms()
            self.start_error = _short(f"circuit {breaker.state}: {breaker.snapshot().last_failure}")
            return False
        return await self.start()

    async def close(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
            await asyncio.gather(self._starting, return_exceptions=True)
        await self.books.close()
        await self.venue.close()

    # -- Venue port -------------------------------------------------------------------------------
    def bind(self, sink: VenueReportSink) -> None:
        self.venue.bind(sink)

    def instruments(self) -> list[Instrument]:
        return self.venue.instruments()

    def submit(self, order: Order) -> None:
        if not self._ready:
            # Only orders recovered at start reach a venue that is not up (new ones fail validation:
            # its instruments are not registered yet); they may be on the exchange: wait, never reject.
            self._deferred_submits.append(order)
            return
        self.venue.submit(order)

    def cancel(self, order: Order) -> None:
        self.venue.cancel(order)

    def amend(self, order: Order, quantity: Decimal, price: Decimal | None) -> None:
        self.venue.amend(order, quantity, price)

    def balances(self, account_id: str) -> list[Balance]:
        return self.venue.balances(account_id)

    def on_time(self, now_ms: int) -> None:
        if self._ready:
            self.venue.on_time(now_ms)
            self.books.on_time(now_ms)
            return
        due = (
            self._last_attempt_ms is None
            or now_ms - self._last_attempt_ms >= self.settings.start_retry_s * 1000
        )
        if self._starting is None and due and self._loop is not None:
            self._starting = self._loop.create_task(self._restart())
            self._starting.add_done_callback(self._start_done)

    def restore(self, working_orders: list[Order], balances: list[Balance]) -> None:
        if not self._ready:
            self._deferred_restore.append((working_orders, balances))
            return
        self.venue.restore(working_orders, balances)

    # -- RoutableVenue ------------------------------------------------------------------------------
    def unavailable(self) -> str | None:
        if not self._ready:
            return f"not connected ({self.start_error})"
        state = self.venue.client.breaker.state
        if state != "closed":
            return "circuit half-open" if state == "half_open" else f"circuit {state}"
        return None

    def refusal(self, command: SubmitOrder) -> str | None:
        capabilities = self.venue.client.capabilities
        if not capabilities.supports(command.type):
            return f"does not support {command.type.value} orders"
        if command.time_in_force not in capabilities.time_in_force:
            return f"does not support time in force {command.time_in_force.value}"
        return None

    def order_book(self, symbol: str) -> OrderBookSnapshot | None:
        return self.books.book(symbol)

    def watch(self, symbol: str) -> None:
        self.books.watch(symbol)

    # -- health -------------------------------------------------------------------------------------
    def health(self) -> VenueHealth:
        client = self.venue.client
        snapshot = client.breaker.snapshot()
        now = self._clock.now_ms()
        ages = {}
        for symbol in self.books.watched:
            book = self.books.latest(symbol)
            if book is not None:
                ages[symbol] = max(0, now - book.fetched_ms) / 1000
        state = str(snapshot.state) if self._ready else "not_connected"
        return VenueHealth(
            name=self.name,
            kind="ccxt",
            up=self._ready and state == "closed",
            state=state,
            sandbox=self.settings.sandbox,
            remaining_budget=client.budget.remaining(),
            budget_capacity=client.rates.capacity,
            consecutive_failures=snapshot.consecutive_failures,
            transitions=snapshot.transitions,
            last_failure=snapshot.last_failure if self._ready else self.start_error,
            requests=client.requests,
            errors=dict(client.errors),
            book_ages_s=ages,
            stats=self.stats,
            trading=self.gate.state(self.name).value if self.gate is not None else "active",
            trading_reason=self.gate.reason(self.name) if self.gate is not None else "",
        )

    def _breaker_changed(self, snapshot: Any) -> None:
        if snapshot.state == "closed":
            logger.info("%s: circuit closed, the venue takes orders again", self.name)
        else:
            logger.warning(
                "%s: circuit %s after %d failures (last: %s)",
                self.name,
                snapshot.state,
                snapshot.consecutive_failures,
                _short(snapshot.last_failure),
            )

    def _start_done(self, task: asyncio.Task[bool]) -> None:
        self._starting = None
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: start failed", self.name, exc_info=task.exception())


# --- building ------------------------------------------------------------------------------------


def start_live_venues(
    settings: Settings,
    instruments: InstrumentRegistry,
    clock: Clock,
    uow_factory: UnitOfWorkFactory,
    loop: asyncio.AbstractEventLoop,
    environ: Mapping[str, str] | None = None,
) -> list[LiveVenue]:
    """Build the enabled venues of `settings.venues` and start them on `loop` (call from another
    thread: it waits for the starts). Raises ValidationError for a configuration problem."""
    enabled = [item for item in settings.venues if item.enabled]
    if not enabled:
        return []
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError("live venues start on the engine loop: call build() from another thread")
    venues = build_live_venues(settings, instruments, clock, uow_factory, environ)

    async def start_all() -> list[bool]:
        return list(await asyncio.gather(*(venue.start() for venue in venues)))

    started = asyncio.run_coroutine_threadsafe(start_all(), loop).result()
    logger.info(
        "live venues: %s",
        ", ".join(f"{v.name} {'up' if ok else 'down'}" for v, ok in zip(venues, started, strict=True)),
    )
    return venues


def build_live_venues(
    settings: Settings,
    instruments: InstrumentRegistry,
    clock: Clock,
    uow_factory: UnitOfWorkFactory,
    environ: Mapping[str, str] | None = None,
) -> list[LiveVenue]:
    """LiveVenues for the enabled entries (not started). Every credential is loaded before any
    venue is built, so a configuration problem stops the start before anything connects."""
    from tradeforge.adapters.ccxt import BreakerConfig, CcxtVenueConfig, ExchangeOptions, make_ccxt_venue
    from tradeforge.adapters.ccxt import VenueCredentials as CcxtCredentials
    from tradeforge.adapters.ccxt.books import BookPolicy, VenueBooks
    from tradeforge.adapters.ccxt.override import transport_override_from_env
    from tradeforge.adapters.ccxt.transport import RequestStats, venue_session_factory
    from tradeforge.security.credentials import CredentialNotFound, load_credentials
    from tradeforge.security.secrets import MasterKeySource

    env = dict(os.environ) if environ is None else dict(environ)
    enabled = [item for item in settings.venues if item.enabled]
    override = transport_override_from_env(env)
    if override is not None:
        logger.warning("TEST/DEV transport override for live venues: %s", override.describe())
    key = MasterKeySource(settings.var_dir, env).load()
    secrets = []
    for item in enabled:
        try:
            credential = load_credentials(uow_factory, key, item.name, item.credentials)
        except CredentialNotFound:
            flag = " --sandbox" if item.sandbox else ""
            raise ValidationError(
                f"venues.{item.name}.credentials",
                f"no credential {item.name}/{item.credentials}: add it with `tradeforge credentials add "
                f"--venue {item.name} --label {item.credentials}{flag}`",
            ) from None
        if credential.sandbox != item.sandbox:
            raise ValidationError(
                f"venues.{item.name}.sandbox",
                f"credential {item.name}/{item.credentials} is for the {_env_name(credential.sandbox)} "
                f"venue, but the setting says {_env_name(item.sandbox)}",
            )
        secrets.append(credential)
    routing = settings.routing
    policy = BookPolicy(
        routing.book_depth, routing.book_refresh_ms, routing.book_max_age_ms, routing.budget_reserve
    )
    default_symbols = tuple(item.symbol for item in settings.instruments)
    venues = []
    for item, credential in zip(enabled, secrets, strict=True):
        symbols = item.symbols or default_symbols
        stats = RequestStats()
        venue = make_ccxt_venue(
            item.name,
            CcxtCredentials(credential.api_key, credential.secret, credential.passphrase),
            sandbox=item.sandbox,
            session_factory=venue_session_factory(stats, override),
            redis_url=item.redis_url,
            account_id=item.account_id or settings.account_id,
            clock=clock,
            breaker=BreakerConfig(item.breaker_failure_threshold, item.breaker_cool_down_s),
            exchange=ExchangeOptions(enable_rate_limit=item.rate_limit, timeout_ms=item.timeout_ms),
            config=CcxtVenueConfig(poll_interval_ms=item.poll_interval_ms),
            symbols=symbols,
        )
        books = VenueBooks(venue, clock, policy, symbols)
        venues.append(LiveVenue(item, venue, books, stats, instruments, clock))
    return venues


def live_venue_closer(venues: Sequence[LiveVenue], loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """For TradingSystem.closers: close every venue on its loop (waits when called off the loop)."""

    async def close_all() -> None:
        await asyncio.gather(*(venue.close() for venue in venues), return_exceptions=True)

    return lambda: run_on_loop(loop, close_all, CLOSE_TIMEOUT_S)


def run_on_loop(
    loop: asyncio.AbstractEventLoop, work: Callable[[], Coroutine[Any, Any, None]], timeout_s: float
) -> None:
    """Run `work()` on the engine loop and wait for it, for closers called from another thread;
    called on the loop's own thread it cannot wait (it finishes after we return)."""
    if loop.is_closed():
        return
    future = asyncio.run_coroutine_threadsafe(work(), loop)
    try:
        if asyncio.get_running_loop() is loop:
            return
    except RuntimeError:
        pass
    future.result(timeout=timeout_s)


# --- health --------------------------------------------------------------------------------------


def venue_health(system: TradingSystem) -> list[VenueHealth]:
    """Every venue of the system: the paper venue is always up; live venues report their breaker."""
    out = []
    for name, venue in system.venues.items():
        if isinstance(venue, LiveVenue):
            out.append(venue.health())
        else:
            out.append(VenueHealth(name=name, kind=name if name == "paper" else "local", up=True, state="up"))
    return out


def can_trade(venues: Sequence[VenueHealth]) -> bool:
    """Ready to trade: some venue orders can be routed to is up and not halted. With live venues
    configured, those count (a simulated paper fill is no substitute for an exchange); otherwise
    the paper venue."""
    live = [venue for venue in venues if venue.kind == "ccxt"]
    return any(venue.up and venue.trading != "halted" for venue in (live or venues))


def _env_name(sandbox: bool) -> str:
    return "sandbox" if sandbox else "live"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"
