"""The real composition root in PAPER mode with live venues on the exchange emulator, for routing tests.

The service's own path end to end, minus HTTP: credentials stored encrypted, settings.venues, the test
transport override (TRADEFORGE_CCXT_RESOLVE + TRADEFORGE_CCXT_CA_FILE) and build(), which starts the
ccxt venues on the running loop. The emulator serves on the same loop; build() runs in a worker thread,
as the API's lifespan runs it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.exchange_emulator import Emulator, EmulatorConfig

from tradeforge.adapters.clocks import WallClock
from tradeforge.domain.commands import SubmitOrder
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import Order, OrderType
from tradeforge.runtime.bootstrap import Mode, build, sql_unit_of_work_factory
from tradeforge.runtime.settings import Settings
from tradeforge.runtime.system import TradingSystem
from tradeforge.runtime.venue_settings import RoutingSettings, VenueSettings
from tradeforge.runtime.venues import LiveVenue
from tradeforge.security.credentials import CredentialService
from tradeforge.security.secrets import MasterKeySource

SYMBOL = "BTC/USDT"
# Bounds on waiting for the venues (book refreshes, breaker cool-down), not assertions on speed.
WAIT_S = 30.0
TICK_S = 0.05


def emulator(*venues: str) -> Emulator:
    return Emulator(EmulatorConfig(venues=venues))


def transport_env(emu: Emulator, tmp_path: Path) -> dict[str, str]:
    """The test/dev transport override for the emulator: every exchange hostname to its port, its CA."""
    ca = tmp_path / "emulator-ca.pem"
    ca.write_bytes(emu.certificates.ca_pem())
    resolve = ",".join(f"{host}=127.0.0.1:{emu.port}" for host in emu.hostnames)
    return {"TRADEFORGE_CCXT_RESOLVE": resolve, "TRADEFORGE_CCXT_CA_FILE": str(ca)}


def venue_settings(name: str, **overrides: Any) -> VenueSettings:
    """Fast settings for tests: short timeouts, a breaker that opens after 2 failures and probes after
    half a second, polling on every timer tick, ccxt's throttle off (kraken's costs seconds)."""
    values: dict[str, Any] = {
        "name": name,
        "sandbox": name != "kraken",
        "timeout_ms": 1_000,
        "rate_limit": False,
        "poll_interval_ms": 0,
        "breaker_failure_threshold": 2,
        "breaker_cool_down_s": 0.5,
        **overrides,
    }
    return VenueSettings(**values)


def service_settings(tmp_path: Path, venues: Iterable[VenueSettings]) -> Settings:
    return Settings(
        var_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path / 'tradeforge.db'}",
        feeds=(),
        strategies=(),
        # The risk engine checks the account's booked balances (the emulator's accounts hold the same).
        starting_balances={"USDT": Decimal("100000"), "BTC": Decimal("2"), "ETH": Decimal("20")},
        venues=tuple(venues),
        routing=RoutingSettings(book_refresh_ms=0, book_max_age_ms=60_000),
    )


def store_credentials(settings: Settings, emu: Emulator) -> None:
    """What `tradeforge credentials add` does: each venue's emulator key, sealed in the database."""
    service = CredentialService(
        sql_unit_of_work_factory(settings), WallClock(), MasterKeySource(settings.var_dir, {})
    )
    for item in settings.venues:
        environment = "sandbox" if item.sandbox else "live"
        key = emu.venue(item.name, environment).credentials
        service.add(item.name, item.credentials, key.api_key, key.secret, key.password, item.sandbox)


@dataclass
class LiveSystem:
    system: TradingSystem
    emu: Emulator
    _ids: int = 0

    def venue(self, name: str) -> LiveVenue:
        venue = self.system.venues[name]
        assert isinstance(venue, LiveVenue)
        return venue

    def emulated(self, name: str) -> Any:
        settings = self.venue(name).settings
        return self.emu.venue(name, "sandbox" if settings.sandbox else "live")

    def submit(self, side: OrderSide, quantity: str, venue: str = "auto", **fields: Any) -> Order:
        """A limit order (default: marketable at 81000 / 79000, so it fills as a taker)."""
        self._ids += 1
        if "price" not in fields:
            fields["price"] = Decimal("81000" if side is OrderSide.BUY else "79000")
        command = SubmitOrder(
            fields.pop("account_id", self.system.settings.account_id),
            fields.pop("client_order_id", f"route{self._ids}"),  # fits every venue as is
            SYMBOL,
            side,
            fields.pop("type", OrderType.LIMIT),
            Decimal(quantity),
            venue=venue,
            **fields,
        )
        order, _handle = self.system.send(command)
        assert isinstance(order, Order)
        return order

    async def tick_until(self, condition: Callable[[], bool], what: str) -> None:
        """Drive the service's timer (polls, book refreshes, breaker probes) until `condition`."""
        deadline = time.monotonic() + WAIT_S
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"gave up waiting for {what}")
            self.system.on_timer()
            await asyncio.sleep(TICK_S)

    def trading(self, name: str) -> str:
        """The venue's reconciliation gate: active, reducing or halted."""
        reconciliation = self.system.reconciliation
        assert reconciliation is not None
        return reconciliation.gate.state(name).value

    async def reconciled(self) -> None:
        """Every connected venue's start reconciliation ended clean (until then it is halted)."""
        names = [v.name for v in self.system.venues.values() if isinstance(v, LiveVenue) and v.ready]
        await self.tick_until(
            lambda: all(self.trading(n) == "active" for n in names), f"{names} reconciled at start"
        )

    async def settle(self) -> None:
        for venue in self.system.venues.values():
            if isinstance(venue, LiveVenue):
                await venue.venue.drain()
        self.system.journal.flush()
        await asyncio.sleep(0)  # committed units are handed back through the loop


@asynccontextmanager
async def live_system(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *venues: VenueSettings,
    before_build: Callable[[Emulator], None] | None = None,
) -> AsyncIterator[LiveSystem]:
    names = tuple(dict.fromkeys(v.name for v in venues))
    async with emulator(*names) as emu:
        if before_build is not None:
            before_build(emu)
        for name, value in transport_env(emu, tmp_path).items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("TRADEFORGE_MASTER_KEY", raising=False)
        settings = service_settings(tmp_path, venues)
        await asyncio.to_thread(store_credentials, settings, emu)
        loop = asyncio.get_running_loop()
        system = await asyncio.to_thread(build, settings, Mode.PAPER, loop=loop)
        try:
            live = LiveSystem(system, emu)
            await live.reconciled()
            yield live
        finally:
            await asyncio.to_thread(system.close)


def set_price(emu_venue: Any, price: str) -> None:
    emu_venue.set_price(SYMBOL, Decimal(price))
