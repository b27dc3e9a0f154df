"""Building the unmodified ccxt async exchange: credentials, lean options, sandbox, the session seam."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async

from tradeforge.adapters.ccxt.capabilities import VenueCapabilities

SessionFactory = Callable[[], aiohttp.ClientSession]


@dataclass(frozen=True, slots=True)
class VenueCredentials:
    """One API key. password is OKX's passphrase. The secret parts never appear in repr or logs."""

    api_key: str
    secret: str = field(repr=False)
    password: str | None = field(default=None, repr=False)
    uid: str | None = None

    def __repr__(self) -> str:
        return f"VenueCredentials(api_key={mask(self.api_key)!r}, secret='***')"

    def ccxt_config(self) -> dict[str, str]:
        config = {"apiKey": self.api_key, "secret": self.secret}
        if self.password is not None:
            config["password"] = self.password
        if self.uid is not None:
            config["uid"] = self.uid
        return config


def mask(value: str) -> str:
    """The first four characters and the length: enough to tell keys apart, useless to an attacker."""
    return f"{value[:4]}...({len(value)})" if len(value) > 8 else "***"


@dataclass(frozen=True, slots=True)
class ExchangeOptions:
    """ccxt constructor settings we choose. enable_rate_limit keeps ccxt's own throttle (on in
    production; our budget comes on top). close_grace_ms replaces ccxt's 250 ms sleep on close()
    when set (it only matters for websocket clients). overrides are merged last, one level deep."""

    enable_rate_limit: bool = True
    timeout_ms: int = 10_000
    close_grace_ms: int | None = None
    overrides: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def exchange_config(
    capabilities: VenueCapabilities,
    credentials: VenueCredentials,
    options: ExchangeOptions,
    session: aiohttp.ClientSession | None,
) -> dict[str, Any]:
    config: dict[str, Any] = copy.deepcopy(dict(capabilities.ccxt_options))
    config.update(credentials.ccxt_config())
    config["enableRateLimit"] = options.enable_rate_limit
    config["timeout"] = options.timeout_ms
    if options.close_grace_ms is not None:
        config["timeout_on_exit"] = options.close_grace_ms
    if session is not None:
        config["session"] = session  # ccxt then sets own_session=False: we close it
    for key, value in options.overrides.items():
        if isinstance(value, Mapping) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **copy.deepcopy(dict(value))}
        else:
            config[key] = copy.deepcopy(value)
    return config


class ExchangeHandle:
    """Creates the ccxt exchange (and the aiohttp session, when a factory is given) on the running
    loop, and closes both. ccxt keeps its production URLs; a session factory is the one seam that
    redirects traffic (tests: a resolver and a test CA), so error maps chosen by host stay real."""

    def __init__(
        self,
        capabilities: VenueCapabilities,
        credentials: VenueCredentials,
        *,
        sandbox: bool,
        options: ExchangeOptions | None = None,
        session_factory: SessionFactory | None = None,
    ) -> None:
        if sandbox and not capabilities.sandbox:
            raise ValueError(f"{capabilities.name} has no sandbox or testnet for spot")
        self.capabilities = capabilities
        self.sandbox = sandbox
        self._credentials = credentials
        self._options = options or ExchangeOptions()
        self._session_factory = session_factory
        self._session: aiohttp.ClientSession | None = None
        self.exchange: Any = None

    def redact(self, text: str) -> str:
        """Venue error bodies may echo the key (bybit's "error sign! origin_string[...]"): mask
        every credential before the text reaches an error, a log line or an order's reason."""
        credentials = self._credentials
        for value in (credentials.secret, credentials.password, credentials.api_key):
            if value and len(value) >= 4 and value in text:
                text = text.replace(value, mask(value))
        return text

    async def open(self) -> Any:
        if self.exchange is not None:
            return self.exchange
        if self._session_factory is not None:
            self._session = self._session_factory()
        cls = getattr(ccxt_async, self.capabilities.ccxt_id)
        exchange = cls(exchange_config(self.capabilities, self._credentials, self._options, self._session))
        if self.sandbox:
            exchange.set_sandbox_mode(True)
        self.exchange = exchange
        return exchange

    async def close(self) -> None:
        exchange, session = self.exchange, self._session
        self.exchange = self._session = None
        if exchange is not None:
            await exchange.close()
        if session is not None:
            await session.close()
