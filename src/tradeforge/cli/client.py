"""HTTP client for the running service: shared --url/--key/--json options and problem+json errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradeforge.cli.common import EXIT_ERROR, EXIT_UNREACHABLE, fail

if TYPE_CHECKING:
    import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"
API_PREFIX = "/api/v1"
REQUEST_TIMEOUT_S = 30.0
Params = dict[str, str] | list[tuple[str, str]]

UrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="TRADEFORGE_API_URL",
        help="Base URL of the running TradeForge service (what `tradeforge run` printed).",
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="TRADEFORGE_API_KEY",
        show_default=False,
        help="API key (required), sent as `Authorization: Bearer <key>`. Create one with "
        "`tradeforge keys create --role trader`; the first admin key is in var/admin.key.",
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print the raw JSON response instead of a table (decimals stay strings)."),
]


class ApiClient:
    """Requests against /api/v1 with the bearer key; any failure ends the command with a clear line."""

    def __init__(self, client: httpx.Client, base_url: str) -> None:
        self._client = client
        self.base_url = base_url

    def get(self, path: str, params: Params | None = None) -> Any:
        return self.request("GET", path, params=params)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        import httpx

        url = self.base_url + API_PREFIX + path
        try:
            query = tuple(params.items() if isinstance(params, dict) else params or ())
            response = self._client.request(method, url, params=query, json=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            fail(
                f"cannot connect to {self.base_url} ({_reason(error)}): "
                "is the service running? (tradeforge run)",
                EXIT_UNREACHABLE,
            )
        except httpx.TransportError as error:
            fail(f"no answer from {self.base_url}: {_reason(error)}", EXIT_UNREACHABLE)
        if response.status_code >= 400:
            fail(problem_message(response), EXIT_ERROR)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            fail(f"{method} {path}: the service answered {response.status_code} with a body that is not JSON")


def _reason(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def problem_message(response: httpx.Response) -> str:
    """One line from an RFC 9457 problem (status, title, offending field, detail)."""
    status = response.status_code
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        text = " ".join(response.text.split())[:200]
        return f"HTTP {status} {response.reason_phrase}" + (f": {text}" if text else "")
    title = str(problem.get("title") or response.reason_phrase or "error")
    parts = [f"HTTP {status} {title}"]
    fields = _problem_fields(problem)
    detail = problem.get("detail")
    if fields:
        parts.append("; ".join(fields))
    # The detail of a validation problem repeats its field errors.
    if detail and not (fields and all(field.split(": ", 1)[-1] in str(detail) for field in fields)):
        parts.append(str(detail))
    message = ": ".join(parts)
    if status == 401:
        message += " (check --key / TRADEFORGE_API_KEY)"
    return message


def _problem_fields(problem: dict[str, Any]) -> list[str]:
    """`field: message` for each entry of the problem's `errors` (TradeForge's validation problems)."""
    found: list[str] = []
    for item in problem.get("errors") or []:
        if isinstance(item, dict):
            name = item.get("field")
            message = str(item.get("message") or item.get("detail") or "invalid")
            found.append(f"{name}: {message}" if name else message)
    return found


@contextmanager
def api_client(url: str, key: str | None) -> Iterator[ApiClient]:
    import httpx

    if not key:
        fail(
            "an API key is required: pass --key KEY or set TRADEFORGE_API_KEY "
            "(create one with `tradeforge keys create --role trader`; "
            "the first admin key is in var/admin.key)",
            EXIT_UNREACHABLE,
        )
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        fail(f"--url must start with http:// or https://, got {url!r}", EXIT_UNREACHABLE)
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    with httpx.Client(headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
        yield ApiClient(client, base)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))
