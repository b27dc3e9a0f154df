"""`tradeforge run`: serve the paper-trading service with uvicorn and say where it is and how to get in.

The first admin key is created by the API's lifespan (`ensure_admin_key`) once the system is built,
so there is exactly one start-up path. This command only watches for it: it notes whether the key
file existed before starting and, once uvicorn reports the application started, prints the URL and,
when the file is new, its path and how to use it."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.panel import Panel

from tradeforge.cli.common import console, fail, load_settings, mask_url

if TYPE_CHECKING:
    from tradeforge.runtime.settings import Settings

APP_FACTORY = "tradeforge.api.app:app_factory"
EXIT_STARTUP_FAILURE = 3


@dataclass(frozen=True)
class KeyFileState:
    """Enough of a file's identity to tell whether start-up wrote it."""

    path: Path
    stamp: tuple[int, int] | None

    @classmethod
    def of(cls, path: Path) -> KeyFileState:
        try:
            stat = path.stat()
        except OSError:
            return cls(path, None)
        return cls(path, (stat.st_ino, stat.st_mtime_ns))

    def written_since(self, before: KeyFileState) -> bool:
        return self.stamp is not None and self.stamp != before.stamp


def run(
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help="Interface to listen on. Default: TRADEFORGE_HOST or 127.0.0.1", show_default=False
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=1, max=65535, help="TCP port. Default: TRADEFORGE_PORT or 8000.", show_default=False
        ),
    ] = None,
    no_replay: Annotated[
        bool,
        typer.Option(
            "--no-replay",
            help="Do not replay the bar files of TRADEFORGE_FEEDS. Without market data nothing fills: market "
            "buys are refused by risk (no market price) and IOC/FOK orders by the venue. Default: replay.",
        ),
    ] = False,
) -> None:
    """Start the service in paper mode: REST API, paper venue and replayed market data.

    The paper venue is fed by the bar files of TRADEFORGE_FEEDS (default: the bundled BTC/USDT sample),
    replayed at TRADEFORGE_REPLAY_SPEED x real time (default 60). State lives in the database of
    TRADEFORGE_DATABASE_URL (default SQLite in ./var), migrated on start unless
    TRADEFORGE_AUTO_MIGRATE=false. On the first start an admin key is written to
    TRADEFORGE_VAR_DIR/admin.key (default var/admin.key); its path is printed once the service is up.
    Logs at TRADEFORGE_LOG_LEVEL (default INFO). Stop with Ctrl+C."""
    import uvicorn

    settings = load_settings()
    bind_host = host or settings.host
    bind_port = port or settings.port
    _check_port_free(bind_host, bind_port)
    # The documented factory reads the same environment; --no-replay needs its own factory.
    app: Any = _no_replay_factory(settings) if no_replay else APP_FACTORY
    config = uvicorn.Config(
        app,
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=1,
        loop="uvloop" if _installed("uvloop") else "auto",
        http="httptools" if _installed("httptools") else "auto",
        log_level=settings.log_level.lower(),
    )
    out = console()
    replay = "off" if no_replay else f"{len(settings.feeds)} feed(s) at {settings.replay_speed:g}x"
    out.print(
        f"starting TradeForge (paper) on {_base_url(bind_host, bind_port)} - database "
        f"{mask_url(settings.database_url)}, replay {replay}",
        markup=False,
    )
    key_before = KeyFileState.of(settings.admin_key_file)
    server = _announcing_server(config, settings, bind_host, bind_port, key_before)
    # uvicorn exits the process itself when start-up fails; we report that below instead.
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        server.run()
    if not server.started:
        fail("the service did not start (see the log above)", EXIT_STARTUP_FAILURE)


def _no_replay_factory(settings: Settings) -> Callable[[], Any]:
    """What app_factory does, for these settings and without the replay feed."""

    def factory() -> Any:
        from tradeforge.api.app import create_app
        from tradeforge.observability.logging import configure_logging

        configure_logging(settings.log_level)
        return create_app(settings, replay=False)

    return factory


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _base_url(host: str, port: int) -> str:
    # A wildcard address is reachable on loopback; IPv6 literals need brackets in a URL.
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _check_port_free(host: str, port: int) -> None:
    """Refuse early, before building anything, when another process holds the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            fail(
                f"cannot listen on {host}:{port}: {error.strerror or error} "
                "(is TradeForge already running? choose another --port or TRADEFORGE_PORT)"
            )


def _banner(settings: Settings, base_url: str, before: KeyFileState) -> Panel:
    key_file = settings.admin_key_file
    lines = [
        f"API       {base_url}/api/v1",
        f"API docs  {base_url}/docs",
        f"health    {base_url}/health, {base_url}/ready",
    ]
    after = KeyFileState.of(key_file)
    if after.written_since(before):
        lines += [
            "",
            f"First admin key written to {key_file}",
            "Store it somewhere safe, then delete the file. Use it:",
            f"  export TRADEFORGE_API_KEY=$(cat {key_file})",
            "  tradeforge keys create --role trader     # a key for trading, or:",
            f'  curl -H "Authorization: Bearer $TRADEFORGE_API_KEY" {base_url}/api/v1/risk/status',
        ]
    elif after.stamp is not None:
        lines += ["", f"Admin key from the first start still in {key_file} (delete it once stored safely)."]
    else:
        lines += ["", "Keys: `tradeforge keys create --role trader` (works while the service runs)."]
    return Panel("\n".join(lines), title="TradeForge is running (paper)", expand=False)


def _announcing_server(
    config: Any, settings: Settings, host: str, port: int, key_before: KeyFileState
) -> Any:
    """uvicorn's server, plus a banner once the lifespan (system build, admin key) has completed.
    Defined here so that uvicorn is imported only when serving."""
    import uvicorn

    base_url = _base_url(host, port)

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and not self.should_exit:
                banner = _banner(settings, base_url, key_before)
                # The console may block on a slow terminal; keep the event loop free of it.
                await asyncio.to_thread(console().print, banner)

    return AnnouncingServer(config)
