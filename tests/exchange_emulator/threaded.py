"""The emulator on its own event loop in a background thread, for synchronous tests (CLI runners, threads).

    with EmulatorThread(EmulatorConfig(venues=("binance",))) as running:
        running.call(lambda emu: emu.venue("binance").set_price("BTC/USDT", "80000"))
        ca_path = running.write_ca(tmp_path / "ca.pem")      # for a client built elsewhere
        port = running.emulator.port

Every change to the emulator's books must go through call(), which runs the function on the emulator's loop,
so requests and test actions never interleave mid-update.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from .server import Emulator, EmulatorConfig

T = TypeVar("T")


class EmulatorThread:
    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.emulator = Emulator(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="exchange-emulator", daemon=True)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.emulator.start(), self._loop).result(timeout=30)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.emulator.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def call(self, action: Callable[[Emulator], T]) -> T:
        """Run `action(emulator)` on the emulator's loop and return its result."""

        async def wrapped() -> T:
            return action(self.emulator)

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(timeout=30)

    def write_ca(self, path: Path) -> Path:
        """The test CA as PEM, for clients configured by file (e.g. a subprocess's SSL_CERT_FILE)."""
        path.write_bytes(self.emulator.certificates.ca_pem())
        return path

    def __enter__(self) -> EmulatorThread:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
