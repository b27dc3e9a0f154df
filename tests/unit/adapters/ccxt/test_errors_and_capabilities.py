"""The ccxt-exception map, per-venue overrides, client-id formats and credentials hygiene."""

from __future__ import annotations

import re
import socket

import aiohttp
import ccxt
import pytest

from tradeforge.adapters.ccxt.capabilities import VENUES, ErrorOverride, capabilities_for
from tradeforge.adapters.ccxt.errors import (
    VenueAmbiguous,
    VenueAuthFailed,
    VenueDuplicateClientId,
    VenueError,
    VenueInsufficientFunds,
    VenueInvalidOrder,
    VenueNotSupported,
    VenueOrderNotFound,
    VenueRateLimited,
    VenueRequestFailed,
    VenueUnavailable,
    map_exception,
    retry_after_seconds,
)
from tradeforge.adapters.ccxt.session import ExchangeHandle, VenueCredentials
from tradeforge.domain.identifiers import CLIENT_ORDER_ID_PATTERN


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ccxt.AuthenticationError("bad key"), VenueAuthFailed),
        (ccxt.PermissionDenied("no trading"), VenueAuthFailed),
        (ccxt.InsufficientFunds("-2010"), VenueInsufficientFunds),
        (ccxt.OrderNotFound("-2013"), VenueOrderNotFound),
        (ccxt.DuplicateOrderId("dup"), VenueDuplicateClientId),
        (ccxt.InvalidOrder("LOT_SIZE"), VenueInvalidOrder),
        (ccxt.BadRequest("-1013 NOTIONAL"), VenueInvalidOrder),
        (ccxt.BadSymbol("XYZ"), VenueInvalidOrder),
        (ccxt.NotSupported("stop"), VenueNotSupported),
        (ccxt.DDoSProtection("-1003"), VenueRateLimited),
        (ccxt.RateLimitExceeded("10006"), VenueRateLimited),
        (ccxt.OnMaintenance("maintenance"), VenueUnavailable),
        (ccxt.InvalidNonce("-1021"), VenueUnavailable),
        (ccxt.RequestTimeout("timeout"), VenueAmbiguous),
        (ccxt.ExchangeNotAvailable("503"), VenueAmbiguous),
        (ccxt.BadResponse("garbled"), VenueAmbiguous),
        (ccxt.NetworkError("reset"), VenueAmbiguous),
        (ccxt.ExchangeError("EGeneral:Unknown"), VenueRequestFailed),
        (TimeoutError(), VenueAmbiguous),
        (ConnectionResetError(), VenueAmbiguous),
        (ValueError("bug"), VenueRequestFailed),
    ],
)
def test_every_ccxt_class_maps_to_one_of_ours(raised: Exception, expected: type[VenueError]) -> None:
    error = map_exception("binance", raised)
    assert type(error) is expected
    assert error.venue == "binance" and error.source == type(raised).__name__
    assert str(error).startswith("venue binance: ")


def test_flags_drive_retries_lookups_and_the_breaker() -> None:
    assert VenueAmbiguous.retryable and VenueAmbiguous.ambiguous and VenueAmbiguous.trips_breaker
    assert VenueUnavailable.retryable and not VenueUnavailable.ambiguous and VenueUnavailable.trips_breaker
    assert VenueRateLimited.retryable and not VenueRateLimited.trips_breaker
    for cls in (VenueAuthFailed, VenueInsufficientFunds, VenueInvalidOrder, VenueOrderNotFound):
        assert not cls.retryable and not cls.ambiguous


def test_a_request_that_never_left_is_unavailable_a_dropped_one_ambiguous() -> None:
    def wrapped(cause: BaseException) -> ccxt.ExchangeNotAvailable:
        error = ccxt.ExchangeNotAvailable("binance POST https://api.binance.com/api/v3/order")
        error.__cause__ = cause
        return error

    connect = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("api.binance.com", 443, True, True, None, None, None),
        OSError(111, "refused"),
    )
    assert type(map_exception("binance", wrapped(connect))) is VenueUnavailable
    assert type(map_exception("binance", wrapped(socket.gaierror()))) is VenueUnavailable
    disconnected = aiohttp.ServerDisconnectedError()
    assert type(map_exception("binance", wrapped(disconnected))) is VenueAmbiguous


def test_overrides_apply_first_and_only_to_their_operations() -> None:
    kraken = VENUES["kraken"].error_overrides
    signature = ccxt.ExchangeError('kraken {"error":["EAPI:Invalid signature"]}')
    assert type(map_exception("kraken", signature, overrides=kraken)) is VenueAuthFailed
    invalid = ccxt.InvalidOrder('kraken {"error":["EOrder:Invalid order"]}')
    assert (
        type(map_exception("kraken", invalid, overrides=kraken, operation="fetch_order"))
        is VenueOrderNotFound
    )
    assert (
        type(map_exception("kraken", invalid, overrides=kraken, operation="create_order"))
        is VenueInvalidOrder
    )
    binance = VENUES["binance"].error_overrides
    banned_key = ccxt.DDoSProtection('binance {"code":-2015,"msg":"Invalid API-key, IP, or permissions"}')
    assert type(map_exception("binance", banned_key, overrides=binance)) is VenueAuthFailed
    assert ErrorOverride("x", "auth_failed").applies(None, "xyz")


def test_rate_limits_carry_retry_after_and_bans() -> None:
    error = map_exception("binance", ccxt.DDoSProtection("418 banned"), status=418, retry_after_s=120)
    assert isinstance(error, VenueRateLimited) and error.banned and error.retry_after_s == 120
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after": "x"}) is None and retry_after_seconds(None) is None


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_client_ids_fit_each_venue_and_map_stably(venue: str) -> None:
    rule = VENUES[venue].client_id
    accepted = {
        "binance": r"[.A-Z:/a-z0-9_-]{1,36}",
        "bybit": r"[A-Za-z0-9_-]{1,36}",
        "okx": r"[A-Za-z0-9]{1,32}",
        "kraken": r"[a-z0-9]{1,18}|[0-9a-fA-F]{32}",
    }[venue]
    for ours in ("abc123", "tf-strategy.7:42", "A" * 36, "x"):
        assert CLIENT_ORDER_ID_PATTERN.match(ours)
        theirs = rule.venue_id(ours)
        assert re.fullmatch(accepted, theirs), (ours, theirs)
        assert rule.venue_id(ours) == theirs  # the same id after a restart
    assert rule.venue_id("tf-a") != rule.venue_id("tf-b")


def test_capabilities_are_data_and_unknown_venues_are_refused() -> None:
    assert capabilities_for("BINANCE").amend_style.value == "cancel_replace"
    assert {VENUES[v].amend_style.value for v in ("bybit", "okx", "kraken")} == {"native"}
    assert not VENUES["kraken"].sandbox and all(VENUES[v].sandbox for v in ("binance", "bybit", "okx"))
    with pytest.raises(ValueError, match="FTX is not supported"):
        capabilities_for("ftx")
    with pytest.raises(ValueError, match="unsupported venue"):
        capabilities_for("mtgox")
    with pytest.raises(ValueError, match="no sandbox"):
        ExchangeHandle(VENUES["kraken"], VenueCredentials("k", "s"), sandbox=True)


def test_credentials_never_show_their_secret() -> None:
    credentials = VenueCredentials("public-key-123456", "very-secret-value", password="passphrase-1")
    text = f"{credentials!r} {credentials}"
    assert "very-secret-value" not in text and "passphrase-1" not in text and "public-key-123456" not in text
    assert credentials.ccxt_config() == {
        "apiKey": "public-key-123456",
        "secret": "very-secret-value",
        "password": "passphrase-1",
    }
