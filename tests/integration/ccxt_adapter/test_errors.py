"""The error-mapping table per venue: real ccxt errors from the emulator's real error answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tests.exchange_emulator import Fault, FaultKind, RequestMatch

from tradeforge.adapters.ccxt import (
    CcxtVenue,
    VenueAmbiguous,
    VenueAuthFailed,
    VenueError,
    VenueInsufficientFunds,
    VenueOrderNotFound,
    VenueRateLimited,
    VenueUnavailable,
)
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderStatus, OrderType
from tradeforge.ports.venue import VenueRequestRefused

from .support import SYMBOL, VENUES, OmsSystem, credentials, emulator, run, started, venue_for

pytestmark = pytest.mark.timeout(60)

PRIVATE = RequestMatch(private_only=True)
BAD_SECRET = {"kraken": "d3Jvbmcgc2VjcmV0"}  # kraken secrets are base64


async def _error_of(call: Any) -> VenueError:
    try:
        await call
    except VenueError as error:
        return error
    raise AssertionError("the call succeeded")


@pytest.mark.parametrize("venue", VENUES)
def test_error_mapping_table(venue: str) -> None:
    async def scenario() -> tuple[dict[str, tuple[type[VenueError], str | None]], list[str]]:
        table: dict[str, tuple[type[VenueError], str | None]] = {}
        texts: list[str] = []
        async with emulator(venue) as emu:
            bad_secret = credentials(emu, venue, secret=BAD_SECRET.get(venue, "0" * 64))
            async with started(venue_for(emu, venue, credentials=bad_secret)) as wrong:
                error = await _error_of(wrong.fetch_balances())
                table["bad secret"] = (type(error), error.source)
                texts.append(str(error))
            bad_key = credentials(emu, venue, api_key="not-a-key-of-this-account")
            async with started(venue_for(emu, venue, credentials=bad_key)) as wrong:
                error = await _error_of(
                    wrong.client.create_order(SYMBOL, "limit", "buy", _d("0.01"), _d("50000"), {})
                )
                table["bad key"] = (type(error), error.source)

            async with started(venue_for(emu, venue, timeout_ms=300)) as adapter:
                client = adapter.client
                error = await _error_of(client.create_order(SYMBOL, "market", "buy", _d("50"), None, {}))
                table["insufficient funds"] = (type(error), error.source)
                error = await _error_of(adapter.fetch_order(_unknown_id(venue), SYMBOL))
                table["unknown order (fetch)"] = (type(error), error.source)
                error = await _error_of(client.cancel_order(_unknown_id(venue), SYMBOL))
                table["unknown order (cancel)"] = (type(error), error.source)
                for label, fault in (
                    ("429", Fault(FaultKind.RATE_LIMIT, retry_after_s=0)),
                    ("503", Fault(FaultKind.SERVER_ERROR, status=503)),
                    ("504", Fault(FaultKind.SERVER_ERROR, status=504)),
                    ("timeout", Fault(FaultKind.TIMEOUT, hold_s=1.0)),
                    ("dropped", Fault(FaultKind.DROP)),
                ):
                    emu.faults.inject(fault, PRIVATE, times=2)  # twice: aiohttp retries a dropped GET once
                    error = await _error_of(client.call("fetch_balance"))
                    emu.faults.clear()
                    table[label] = (type(error), error.source)
                assert not emu.venue(venue).state.orders  # nothing was placed by any of it
            assert emu.venue(venue).stats.unverified_accepted == 0
            secrets = (bad_secret.api_key, bad_secret.secret, bad_key.secret)
        return table, [text for text in texts if any(s in text for s in secrets)]

    table, texts = run(scenario())
    expected: dict[str, type[VenueError]] = {
        "bad secret": VenueAuthFailed,
        "bad key": VenueAuthFailed,
        "insufficient funds": VenueInsufficientFunds,
        "unknown order (fetch)": VenueOrderNotFound,
        "unknown order (cancel)": VenueOrderNotFound,
        "429": VenueRateLimited,
        "503": VenueAmbiguous,
        "504": VenueAmbiguous,
        "timeout": VenueAmbiguous,
        "dropped": VenueAmbiguous,
    }
    assert {label: cls for label, (cls, _) in table.items()} == expected, table
    assert texts == []  # bybit echoes the key in "error sign! origin_string[...]": masked
    assert table["timeout"][1] == "RequestTimeout"
    assert table["429"][1] in ("DDoSProtection", "RateLimitExceeded")
    assert all(cls.retryable for cls, _ in (table[k] for k in ("429", "503", "504", "timeout", "dropped")))
    assert not any(
        cls.retryable for cls, _ in (table[k] for k in ("bad secret", "bad key", "insufficient funds"))
    )


def _unknown_id(venue: str) -> str:
    return {"kraken": "OAAAAA-AAAAA-AAAAAA", "okx": "600000000000009999", "bybit": "1900000000000009999"}.get(
        venue, "28000009999"
    )


def _d(text: str) -> Decimal:
    return Decimal(text)


@pytest.mark.parametrize("venue", VENUES)
def test_venue_refusals_reach_the_oms_as_rejections_with_the_reason(venue: str) -> None:
    async def scenario() -> None:
        async with emulator(venue) as emu, started(venue_for(emu, venue)) as adapter:
            system = OmsSystem.build(adapter)
            too_big = system.submit(OrderType.LIMIT, OrderSide.BUY, "5", "80000")
            other = system.submit(OrderType.LIMIT, OrderSide.BUY, "0.1", "1000", symbol="ETH/USDT")
            await system.settle()
            assert too_big.status is OrderStatus.REJECTED
            assert too_big.reject_reason is not None
            assert too_big.reject_reason.startswith(f"venue {venue}: insufficient funds")
            assert other.status is OrderStatus.OPEN  # refusals stay with their order
            assert len(emu.venue(venue).state.orders) == 1
            with pytest.raises(VenueRequestRefused, match="not working"):
                adapter.cancel(too_big)  # at the port: the venue holds no such order

    run(scenario())


def test_a_host_that_cannot_be_reached_is_unavailable_not_ambiguous() -> None:
    async def scenario() -> None:
        async with emulator("binance") as emu:
            venue: CcxtVenue = venue_for(emu, "kraken", credentials=credentials(emu, "binance"))
            error = await _error_of(venue.start())
            await venue.close()
            assert isinstance(error, VenueUnavailable) and not error.ambiguous

    run(scenario())
