"""The hot path's shortcuts answer exactly what the general machinery answers.

POST /api/v1/orders is served by SubmitOrderRoute's hand-written handler instead of FastAPI's request
handler; here the same endpoint, mounted the ordinary way on a reference app sharing the running
system, is the oracle: every request must get the same status, headers and body from both. Also: the
exact JSON reader against the standard parser, parse_decimal against domain normalization, and the
garbage collector settings of a serving app."""

from __future__ import annotations

import functools
import gc
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.integration.api.harness import Api, api_settings, start_api
from tests.integration.api.test_errors import CASES, LIMIT, VALID

from tradeforge.api.app import GC_YOUNG_THRESHOLD, create_app
from tradeforge.api.deps import Trader
from tradeforge.api.errors import install_error_handlers
from tradeforge.api.routes import orders
from tradeforge.api.routing import ExactJSONRoute, loads_exact
from tradeforge.api.schemas import OrderOut, parse_decimal
from tradeforge.bus import codec
from tradeforge.domain.data import Bar
from tradeforge.domain.values import normalize
from tradeforge.observability.logging import _SECRET_PATTERNS, REDACTED, redact

ORDERS = "/api/v1/orders"


def reference_app(app: FastAPI) -> FastAPI:
    """submit_order served by FastAPI's own request handler, on the same system and key cache."""
    reference = FastAPI()
    install_error_handlers(reference)
    reference.router.add_api_route(
        ORDERS,
        orders.submit_order,
        methods=["POST"],
        status_code=201,
        response_model=OrderOut,
        route_class_override=ExactJSONRoute,
    )
    reference.state = app.state
    return reference


async def _send(app: FastAPI, method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.request(method, path, **kwargs)


class Pair:
    """The served app and its reference, called on the served app's event loop (where the engine
    lives), through the same transport."""

    def __init__(self, api: Api) -> None:
        served = [route for route in orders.router.routes if getattr(route, "path", "") == ORDERS]
        assert isinstance(served[0], orders.SubmitOrderRoute), "POST /api/v1/orders is not the direct route"
        self.api = api
        self.reference = reference_app(api.app)

    def send(self, app: FastAPI, kwargs: dict[str, Any], key: str | None) -> httpx.Response:
        kwargs = {**kwargs, "headers": dict(kwargs.get("headers") or {})}
        if key is not None:
            kwargs["headers"].setdefault("Authorization", f"Bearer {key}")
        portal = self.api.client.portal
        assert portal is not None
        response: httpx.Response = portal.call(functools.partial(_send, app, "POST", ORDERS, kwargs))
        return response

    def direct(self, kwargs: dict[str, Any], key: str | None) -> httpx.Response:
        return self.send(self.api.app, kwargs, key)

    def generic(self, kwargs: dict[str, Any], key: str | None) -> httpx.Response:
        return self.send(self.reference, kwargs, key)


def same(direct: httpx.Response, generic: httpx.Response) -> None:
    assert direct.status_code == generic.status_code, (direct.text, generic.text)
    for header in ("content-type", "www-authenticate"):
        assert direct.headers.get(header) == generic.headers.get(header), header
    assert direct.json() == generic.json()
    assert direct.content == generic.content


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, btc_bars: list[Bar]) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("fast-paths")
    for api in start_api(api_settings(f"sqlite:///{tmp / 'tradeforge.db'}", tmp / "var")):
        api.feed(*btc_bars[:2])
        yield Pair(api)


POST_CASES = [case for case in CASES if case[1] == "POST" and case[2] == ORDERS]


@pytest.mark.parametrize("kwargs", [case[3] for case in POST_CASES], ids=[case[0] for case in POST_CASES])
def test_bad_orders_get_the_same_problem(pair: Pair, kwargs: dict[str, Any]) -> None:
    before = pair.api.order_count()
    same(pair.direct(kwargs, pair.api.admin_key), pair.generic(kwargs, pair.api.admin_key))
    assert pair.api.order_count() == before


AUTHORIZATIONS = {
    "none": None,
    "empty": "",
    "basic": "Basic dXNlcjpwYXNz",
    "bearer-without-token": "Bearer",
    "bearer-blank": "Bearer    ",
    "unknown": "Bearer tf_k0000000000000_unknownunknownunknown",
    "too-long": "Bearer " + "x" * 300,
}


@pytest.mark.parametrize("authorization", AUTHORIZATIONS.values(), ids=AUTHORIZATIONS.keys())
@pytest.mark.parametrize(
    "kwargs",
    [{"json": VALID}, {"content": b'{"symbol": '}, {"json": {**VALID, "quantity": "-1"}}],
    ids=["valid", "malformed", "invalid"],
)
def test_missing_or_bad_keys_get_the_same_answer(
    pair: Pair, authorization: str | None, kwargs: dict[str, Any]
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    request = {**kwargs, "headers": headers}
    same(pair.direct(request, None), pair.generic(request, None))


def test_a_role_without_trade_gets_the_same_403(pair: Pair) -> None:
    viewer = pair.api.create_key("viewer", "parity-viewer")
    for kwargs in ({"json": VALID}, {"json": {**VALID, "side": "long"}}):
        direct, generic = pair.direct(kwargs, viewer), pair.generic(kwargs, viewer)
        assert direct.status_code == 403
        same(direct, generic)


@pytest.mark.parametrize(
    "idempotency_key",
    ["", " ", "a b", "é".encode(), "k" * 256],
    ids=["empty", "space", "inner-space", "utf8", "long"],
)
def test_bad_idempotency_keys_get_the_same_problem(pair: Pair, idempotency_key: str | bytes) -> None:
    for body in (VALID, {**VALID, "side": "long"}):
        kwargs = {"json": body, "headers": {"Idempotency-Key": idempotency_key}}
        direct, generic = pair.direct(kwargs, pair.api.admin_key), pair.generic(kwargs, pair.api.admin_key)
        assert direct.status_code == 422
        same(direct, generic)


def test_orders_replays_and_conflicts_get_the_same_answers(pair: Pair) -> None:
    key = pair.api.admin_key
    for first, second in ((pair.direct, pair.generic), (pair.generic, pair.direct)):
        tag = "d" if first == pair.direct else "g"
        # An Idempotency-Key replays the first answer, whichever path stored it.
        retry = {"json": VALID, "headers": {"Idempotency-Key": f"parity-{tag}"}}
        created = first(retry, key)
        assert created.status_code == 201 and created.json()["status"] == "filled"
        same(second(retry, key), created)
        reused = {"json": LIMIT, "headers": {"Idempotency-Key": f"parity-{tag}"}}
        same(first(reused, key), second(reused, key))
        # A known client_order_id answers the existing order (200), or a conflict if it differs.
        mine = {"json": {**LIMIT, "client_order_id": f"parity-{tag}"}}
        assert first(mine, key).status_code == 201
        same(first(mine, key), second(mine, key))
        conflict = {"json": {**LIMIT, "price": "80001", "client_order_id": f"parity-{tag}"}}
        same(first(conflict, key), second(conflict, key))


def test_a_new_order_is_the_model_s_json(pair: Pair) -> None:
    response = pair.direct({"json": {**LIMIT, "strategy_id": "parity"}}, pair.api.admin_key)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.json() == OrderOut.model_validate(response.json()).model_dump(mode="json")
    assert list(response.json()) == list(OrderOut.model_fields)
    # The service's form of an order has exactly the model's fields, so order_response encodes it
    # directly instead of taking its (correct but slower) path through the model.
    order = pair.api.system.cache.get(response.json()["id"])
    assert order is not None
    assert list(codec.order_to_dict(order)) == list(OrderOut.model_fields)


def test_before_the_system_runs_both_answer_503(sqlite_url: str, tmp_path: Path) -> None:
    app = create_app(api_settings(sqlite_url, tmp_path / "var"), replay=False, tune_gc=False)
    direct, generic = TestClient(app), TestClient(reference_app(app))  # lifespans not run
    for kwargs in ({"json": VALID}, {"content": b"{"}):
        headers = {"Authorization": "Bearer whatever", "Content-Type": "application/json"}
        answers = [client.post(ORDERS, headers=headers, **kwargs) for client in (direct, generic)]
        same(*answers)
    assert direct.post(ORDERS, json=VALID).status_code == 503


def test_the_route_refuses_an_endpoint_it_cannot_serve() -> None:
    """SubmitOrderRoute resolves submit_order's parameters by hand; a changed signature must fail
    when the app is built, not be served with a parameter silently missing."""

    async def changed(key: Trader, order: orders.OrderRequest, dry_run: bool = False) -> Any:
        raise AssertionError("never called")

    router = APIRouter()
    with pytest.raises(TypeError, match="parameters changed"):
        router.add_api_route(ORDERS, changed, methods=["POST"], route_class_override=orders.SubmitOrderRoute)


# --- exact JSON and decimals ------------------------------------------------------------------------

_NUMBER_TEXT = st.from_regex(r"-?(0|[1-9][0-9]{0,60})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?", fullmatch=True)
_JSON_TEXT = st.recursive(
    st.one_of(
        st.sampled_from(["true", "false", "null", "NaN", "Infinity", "-Infinity"]),
        _NUMBER_TEXT,
        st.text(max_size=20).map(lambda text: json.dumps(text, ensure_ascii=False)),
        st.text(max_size=20).map(json.dumps),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(st.tuples(st.text(max_size=8), inner), max_size=4).map(
            lambda pairs: "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"
        ),
    ),
    max_leaves=12,
)


def _outcome(parse: Any, raw: bytes) -> tuple[str, str]:
    try:
        return ("ok", repr(parse(raw)))
    except (ValueError, RecursionError) as error:  # JSONDecodeError, or bad UTF-8/UTF-16 for json.loads
        return ("error", type(error).__name__)


def _standard(raw: bytes) -> Any:
    return json.loads(raw, parse_float=Decimal, parse_int=_int_or_decimal, parse_constant=Decimal)


def _int_or_decimal(text: str) -> int | Decimal:
    return int(text) if len(text) <= 40 else Decimal(text)


@settings(max_examples=400, deadline=None)
@given(
    text=_JSON_TEXT, noise=st.sampled_from(["", " ", "\n", "}", ",", "\x00", "\ufeff"]), cut=st.integers(0, 3)
)
def test_loads_exact_reads_what_the_standard_parser_reads(text: str, noise: str, cut: int) -> None:
    """Same values (types included: Decimal for every fraction and for integers over 40 digits),
    and where the text is not JSON, an error all the same."""
    for candidate in (text, text + noise, noise + text, text[: len(text) - cut]):
        raw = candidate.encode("utf-8", "surrogatepass")
        ours, reference = _outcome(loads_exact, raw), _outcome(_standard, raw)
        assert ours[0] == reference[0], (raw, ours, reference)
        if ours[0] == "ok":
            assert ours == reference, raw


@settings(max_examples=400, deadline=None)
@given(text=st.from_regex(r"[+-]?[0-9]{0,19}(\.[0-9]{0,20})?", fullmatch=True))
def test_parse_decimal_answers_the_normalized_value(text: str) -> None:
    try:
        value = parse_decimal(text)
    except ValueError:
        return
    expected = Decimal(0) if Decimal(text).is_zero() else normalize(Decimal(text))
    assert value.as_tuple() == expected.as_tuple(), text


_LOG_WORDS = "tf_k tf_K 0123456789ab _ Zx9- bearer Bearer BEARER bEaReR key \u212aey api_ secret \u017fecret"
_LOG_PIECES = st.sampled_from([*_LOG_WORDS.split(), "pa", "ss", "\u017f", "word", "phrase", " ", "\t", "x"])
_LOG_SEPARATORS = st.sampled_from([",", "=", ":", "'", '"', "é", ""])


@settings(max_examples=400, deadline=None)
@given(text=st.lists(st.one_of(_LOG_PIECES, _LOG_SEPARATORS), max_size=12).map("".join))
def test_redaction_skips_only_texts_that_cannot_hold_a_secret(text: str) -> None:
    expected = text
    for pattern in _SECRET_PATTERNS:
        expected = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, expected)
    assert redact(text) == expected


# --- garbage collection -----------------------------------------------------------------------------


def test_a_serving_app_freezes_the_start_up_heap_and_restores_the_collector(
    sqlite_url: str, tmp_path: Path
) -> None:
    thresholds = gc.get_threshold()
    app = create_app(api_settings(sqlite_url, tmp_path / "var"), replay=False)
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        assert client.get("/ready").status_code == 200
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
