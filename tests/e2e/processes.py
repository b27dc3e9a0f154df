"""Start and stop `tradeforge run` as a real process for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

TRADEFORGE = Path(sys.executable).with_name("tradeforge")
# Bounds on waiting, not assertions on speed: a slow machine only waits longer.
START_DEADLINE_S = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def service_environment(var_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRADEFORGE_")}
    # No demo strategy: the tests decide every order the service sees.
    env.update(
        {
            "TRADEFORGE_VAR_DIR": str(var_dir),
            "TRADEFORGE_DATABASE_URL": database_url,
            "TRADEFORGE_STRATEGIES": "[]",
            **extra,
        }
    )
    return env


@dataclass
class ServiceProcess:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush; what was not committed is lost."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_service(env: dict[str, str], cwd: Path, log: Path, port: int | None = None) -> ServiceProcess:
    assert TRADEFORGE.exists(), f"the tradeforge script is not installed next to {sys.executable}"
    port = port or free_port()
    handle = log.open("ab")
    process = subprocess.Popen(
        [str(TRADEFORGE), "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    service = ServiceProcess(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"the service exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{service.url}/ready", timeout=2).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            service.kill()
            pytest.fail(f"the service did not become ready:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)
