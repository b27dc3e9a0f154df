"""Venue errors: every ccxt exception is translated into one of these at the adapter boundary."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp
import ccxt

from tradeforge.domain.errors import TradeForgeError

if TYPE_CHECKING:
    from tradeforge.adapters.ccxt.capabilities import ErrorOverride

_MAX_DETAIL = 300


class VenueError(TradeForgeError):
    """A request to a venue failed. Three class-level facts drive the adapter:

    retryable: sending the same request again later may succeed (transient).
    ambiguous: the venue may have applied the request although we saw a failure; a create is then
        looked up by client order id before anything is sent again.
    trips_breaker: the failure counts towards opening the venue's circuit breaker."""

    retryable: ClassVar[bool] = False
    ambiguous: ClassVar[bool] = False
    trips_breaker: ClassVar[bool] = False
    kind: ClassVar[str] = "venue_error"

    def __init__(
        self, venue: str, detail: str, *, retry_after_s: float | None = None, source: str | None = None
    ) -> None:
        detail = detail if len(detail) <= _MAX_DETAIL else detail[:_MAX_DETAIL] + "..."
        super().__init__(f"venue {venue}: {detail}")
        self.venue = venue
        self.detail = detail
        self.retry_after_s = retry_after_s
        self.source = source  # the ccxt (or transport) exception class name, for logs and metrics


class VenueUnavailable(VenueError):
    """The request provably did not reach the venue's matching engine (connect or DNS failure,
    maintenance, nonce/timestamp refused), so it is safe to send again."""

    retryable = True
    trips_breaker = True
    kind = "unavailable"


class VenueAmbiguous(VenueError):
    """Timeout, 5xx, dropped connection or unreadable answer: the venue may have applied it."""

    retryable = True
    ambiguous = True
    trips_breaker = True
    kind = "ambiguous"


class VenueRateLimited(VenueError):
    """429 (or 418: banned). Never applied; back off for retry_after_s when the venue says so."""

    retryable = True
    kind = "rate_limited"

    def __init__(
        self,
        venue: str,
        detail: str,
        *,
        retry_after_s: float | None = None,
        source: str | None = None,
        banned: bool = False,
    ) -> None:
        super().__init__(venue, detail, retry_after_s=retry_after_s, source=source)
        self.banned = banned


class VenueCircuitOpen(VenueError):
    """Refused locally: the venue's circuit breaker is open (nothing was sent)."""

    retryable = True
    kind = "circuit_open"


class VenueAuthFailed(VenueError):
    """Bad key, bad signature, missing permission: retrying cannot help."""

    kind = "auth_failed"


class VenueOrderRejected(VenueError):
    """The venue refused an order request (definitively, nothing was applied)."""

    kind = "order_rejected"


class VenueInsufficientFunds(VenueOrderRejected):
    kind = "insufficient_funds"


class VenueInvalidOrder(VenueOrderRejected):
    """Bad size, price, filters, type or parameters."""

    kind = "invalid_order"


class VenueDuplicateClientId(VenueOrderRejected):
    """The client order id is already in use on the venue (after an ambiguous create: the first
    attempt landed)."""

    kind = "duplicate_client_id"


class VenueOrderNotFound(VenueError):
    kind = "order_not_found"


class VenueNotSupported(VenueError):
    kind = "not_supported"


class VenueRequestFailed(VenueError):
    """Any other refusal the venue gave (not retried)."""

    kind = "request_failed"


# ccxt class -> ours, most specific first (the first isinstance match wins). ccxt's tree (4.5.90):
# ExchangeError > {AuthenticationError, BadRequest, InsufficientFunds, InvalidOrder > {OrderNotFound,
# DuplicateOrderId, ...}, NotSupported, OperationRejected}; OperationFailed > {NetworkError >
# {DDoSProtection, RateLimitExceeded, ExchangeNotAvailable > OnMaintenance, InvalidNonce, RequestTimeout},
# BadResponse}. DDoSProtection and RateLimitExceeded are siblings: both are rate limits here.
CCXT_ERROR_MAP: tuple[tuple[type[Exception], type[VenueError]], ...] = (
    (ccxt.AuthenticationError, VenueAuthFailed),
    (ccxt.InsufficientFunds, VenueInsufficientFunds),
    (ccxt.OrderNotFound, VenueOrderNotFound),
    (ccxt.DuplicateOrderId, VenueDuplicateClientId),
    (ccxt.InvalidOrder, VenueInvalidOrder),
    (ccxt.BadSymbol, VenueInvalidOrder),
    (ccxt.BadRequest, VenueInvalidOrder),  # binance -1013 "Filter failure: NOTIONAL" is a BadRequest
    (ccxt.ArgumentsRequired, VenueInvalidOrder),
    (ccxt.OperationRejected, VenueInvalidOrder),
    (ccxt.NotSupported, VenueNotSupported),
    (ccxt.ExchangeClosedByUser, VenueUnavailable),
    (ccxt.DDoSProtection, VenueRateLimited),
    (ccxt.RateLimitExceeded, VenueRateLimited),
    (ccxt.OnMaintenance, VenueUnavailable),
    (ccxt.InvalidNonce, VenueUnavailable),  # refused before processing: the next nonce may pass
    (ccxt.RequestTimeout, VenueAmbiguous),
    (ccxt.ExchangeNotAvailable, VenueAmbiguous),  # 5xx or a dropped connection (see _not_sent)
    (ccxt.BadResponse, VenueAmbiguous),
    (ccxt.NetworkError, VenueAmbiguous),
    (ccxt.ExchangeError, VenueRequestFailed),
    (ccxt.BaseError, VenueRequestFailed),
)

ERROR_KINDS: dict[str, type[VenueError]] = {
    cls.kind: cls
    for cls in (
        VenueUnavailable,
        VenueAmbiguous,
        VenueRateLimited,
        VenueAuthFailed,
        VenueInsufficientFunds,
        VenueInvalidOrder,
        VenueDuplicateClientId,
        VenueOrderNotFound,
        VenueNotSupported,
        VenueRequestFailed,
    )
}


def _not_sent(error: BaseException) -> bool:
    """True when the transport failed before any byte of the request could reach the venue."""
    cause = error.__cause__
    return isinstance(cause, aiohttp.ClientConnectorError | socket.gaierror)


def map_exception(
    venue: str,
    error: BaseException,
    *,
    overrides: Sequence[ErrorOverride] = (),
    operation: str | None = None,
    status: int | None = None,
    retry_after_s: float | None = None,
    redact: Callable[[str], str] | None = None,
) -> VenueError:
    """Translate a ccxt (or transport) exception into a VenueError.

    overrides: (substring of the message, error kind) pairs from the venue's capabilities, checked
    first: ccxt leaves some venue errors unmapped or maps them by context (kraken's "EAPI:Invalid
    signature" is a plain ExchangeError; binance's -2015 becomes DDoSProtection after a good call).
    status: the HTTP status of the failed answer when known (418 marks a ban).
    redact: masks credentials the venue echoed in its answer."""
    if isinstance(error, VenueError):
        return error
    text = redact(str(error)) if redact is not None else str(error)
    source = type(error).__name__
    target: type[VenueError] | None = None
    for override in overrides:
        if override.applies(operation, text):
            target = ERROR_KINDS[override.kind]
            break
    if target is None:
        if isinstance(error, TimeoutError):
            target = VenueAmbiguous
        elif not isinstance(error, ccxt.BaseError):
            transport = isinstance(error, OSError | aiohttp.ClientError)
            target = VenueAmbiguous if transport else VenueRequestFailed
        else:
            target = next(ours for theirs, ours in CCXT_ERROR_MAP if isinstance(error, theirs))
            if target is VenueAmbiguous and _not_sent(error):
                target = VenueUnavailable
    detail = text or source
    if target is VenueRateLimited:
        return VenueRateLimited(
            venue, detail, retry_after_s=retry_after_s, source=source, banned=status == 418
        )
    return target(venue, detail, retry_after_s=retry_after_s, source=source)


def retry_after_seconds(headers: Any) -> float | None:
    """The Retry-After header as seconds (delta form only; venues do not send HTTP dates)."""
    if not headers:
        return None
    value = None
    for key in ("Retry-After", "retry-after"):
        if key in headers:
            value = headers[key]
            break
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None
