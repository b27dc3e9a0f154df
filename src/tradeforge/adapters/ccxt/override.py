"""Test/dev transport override: exchange hostnames sent to fixed addresses, only one CA trusted.

ccxt keeps its real URLs (so its per-host behaviour and error maps are the production ones); only
where the connection goes and which CA is trusted change. Off unless both TRADEFORGE_CCXT_RESOLVE and
TRADEFORGE_CCXT_CA_FILE are set; `tradeforge data download`, the service's venues (transport.py) and
`config check` read it through `transport_override_from_env`.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from tradeforge.domain.errors import ValidationError

RESOLVE_ENV = "TRADEFORGE_CCXT_RESOLVE"
CA_FILE_ENV = "TRADEFORGE_CCXT_CA_FILE"


class StaticResolver(AbstractResolver):
    """Resolves the listed hostnames to fixed addresses and ports; refuses every other name."""

    def __init__(self, table: Mapping[str, tuple[str, int]]) -> None:
        self._table = {host.lower(): target for host, target in table.items()}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        target = self._table.get(host.lower())
        if target is None:
            raise OSError(socket.EAI_NONAME, f"{host} is not in {RESOLVE_ENV}")
        address, target_port = target
        numeric = socket.AI_NUMERICHOST
        return [
            ResolveResult(
                hostname=host, host=address, port=target_port, family=socket.AF_INET, proto=0, flags=numeric
            )
        ]

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class TransportOverride:
    """Tests and development only: send exchange hostnames to fixed addresses and trust only `ca_file`."""

    resolve: Mapping[str, tuple[str, int]]
    ca_file: Path

    def session(self) -> aiohttp.ClientSession:
        context = ssl.create_default_context(cafile=str(self.ca_file))  # this CA only, no system roots
        connector = aiohttp.TCPConnector(
            resolver=StaticResolver(self.resolve), ssl=context, family=socket.AF_INET
        )
        return aiohttp.ClientSession(connector=connector)

    def describe(self) -> str:
        hosts = ", ".join(
            f"{host}={address}:{port}" for host, (address, port) in sorted(self.resolve.items())
        )
        return f"{hosts} (CA {self.ca_file})"


def transport_override_from_env(environ: Mapping[str, str]) -> TransportOverride | None:
    """TRADEFORGE_CCXT_RESOLVE='host=ip:port,...' with TRADEFORGE_CCXT_CA_FILE=ca.pem, or None."""
    spec = environ.get(RESOLVE_ENV, "").strip()
    ca_file = environ.get(CA_FILE_ENV, "").strip()
    if not spec and not ca_file:
        return None
    if not spec or not ca_file:
        raise ValidationError(
            RESOLVE_ENV if not spec else CA_FILE_ENV, f"set both {RESOLVE_ENV} and {CA_FILE_ENV}"
        )
    table: dict[str, tuple[str, int]] = {}
    for item in spec.split(","):
        host, _, target = item.strip().partition("=")
        address, _, port = target.rpartition(":")
        if not host or not address or not port.isdigit():
            raise ValidationError(RESOLVE_ENV, f"{item.strip()!r} is not host=address:port")
        table[host.strip()] = (address, int(port))
    if not Path(ca_file).is_file():
        raise ValidationError(CA_FILE_ENV, f"no such file: {ca_file}")
    return TransportOverride(table, Path(ca_file))
