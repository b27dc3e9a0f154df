"""A local exchange emulator (binance, bybit, okx, kraken spot) for testing unmodified ccxt offline.

The public API, documented in docs/exchange-emulator.md:

    Emulator, EmulatorConfig, EmulatedVenue     the server, its settings, one venue's handle (server.py)
    emulated_exchange, loopback_session,        a ccxt instance / an aiohttp session that reach the emulator
    exchange_config, LEAN_CONFIG                through the real hostnames (transport.py)
    Fault, FaultKind, RequestMatch, RandomFaults    fault injection (faults.py)
    EmulatorThread                              the emulator on a background thread (threaded.py)
    Status, Side, Kind                          the books' vocabulary (orders.py)
"""

from __future__ import annotations

from .faults import Fault, FaultKind, RandomFaults, RequestMatch
from .orders import Kind, Side, Status
from .server import EmulatedVenue, Emulator, EmulatorConfig
from .threaded import EmulatorThread
from .transport import LEAN_CONFIG, emulated_exchange, exchange_config, loopback_session

__all__ = [
    "LEAN_CONFIG",
    "EmulatedVenue",
    "Emulator",
    "EmulatorConfig",
    "EmulatorThread",
    "Fault",
    "FaultKind",
    "Kind",
    "RandomFaults",
    "RequestMatch",
    "Side",
    "Status",
    "emulated_exchange",
    "exchange_config",
    "loopback_session",
]
