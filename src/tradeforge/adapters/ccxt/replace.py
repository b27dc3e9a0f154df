"""Amend by cancel-and-replace (binance spot): a new venue order id, our order id and client id kept."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from tradeforge.adapters.ccxt.errors import VenueError
from tradeforge.adapters.ccxt.tracking import ReplaceInDoubt, TrackedOrder
from tradeforge.adapters.ccxt.translate import order_from_ccxt
from tradeforge.domain.values import ZERO, decimal_str

if TYPE_CHECKING:
    from tradeforge.adapters.ccxt.workflow import OrderWorkflow

logger = logging.getLogger(__name__)


async def amend_by_replace(
    flow: OrderWorkflow, tracked: TrackedOrder, quantity: Decimal, price: Decimal | None
) -> None:
    """Replace the live venue order with one for the rest of the new total quantity.

    The replacement carries the same client order id (binance requires uniqueness among open
    orders only, and the original is cancelled first), so a lookup by client id always finds the
    live order. Our order id never changes; the adapter records every venue order id of the order,
    and the OMS sees one OrderAmended. Fills the original made before the cancel are collected
    afterwards; if they leave the replacement too large, it is shrunk (or cancelled) at once."""
    client = flow.client
    try:
        await flow.follow(tracked, None)  # the latest fills decide what is left to replace
    except VenueError as error:
        flow.refuse(tracked, "amend", f"could not read the order first: {error}")
        return
    old_id = tracked.venue_order_id
    if tracked.done or old_id is None:
        flow.refuse(tracked, "amend", "the order finished before it could be amended")
        return
    remaining = quantity - tracked.filled
    if remaining <= ZERO:
        flow.refuse(tracked, "amend", f"{decimal_str(quantity)} is not above the filled quantity")
        return
    params = {"clientOrderId": tracked.venue_client_id, **flow.amend_params(tracked)}
    new_id: str | None
    try:
        raw = await client.edit_order(
            old_id, tracked.symbol, tracked.ccxt_type, tracked.side.value, remaining, price, params
        )
        new_id = order_from_ccxt(raw).venue_order_id
    except VenueError as error:
        new_id = await _replacement_after(
            flow, tracked, old_id, error, ReplaceInDoubt(old_id, quantity, price)
        )
    if new_id is not None:
        await adopt_replacement(flow, tracked, new_id, ReplaceInDoubt(old_id, quantity, price))


async def adopt_replacement(
    flow: OrderWorkflow, tracked: TrackedOrder, new_id: str, replace: ReplaceInDoubt
) -> None:
    """The replacement `new_id` of `replace.old_id` exists: it becomes the live venue order, the OMS
    sees the amend, and fills the original made before its cancel are collected."""
    old_id, quantity, price = replace
    remaining = quantity - tracked.filled
    flow.add_venue_order_id(tracked, new_id)
    flow.report_amended(tracked, quantity, price)
    try:
        old = await flow.fetch_order(old_id, tracked)
        await flow.collect(tracked, old_id, old.filled or ZERO)
        excess = tracked.filled + remaining - quantity
        if excess > ZERO:
            params = {"clientOrderId": tracked.venue_client_id, **flow.amend_params(tracked)}
            await _shrink(flow, tracked, new_id, remaining - excess, price, params)
        await flow.follow(tracked, None)
    except VenueError as error:
        logger.info("%s: after replacing %s: %s (the next poll follows up)", flow.name, old_id, error)


async def _replacement_after(
    flow: OrderWorkflow, tracked: TrackedOrder, old_id: str, error: VenueError, replace: ReplaceInDoubt
) -> str | None:
    """After a failed cancelReplace: the id of a replacement that exists anyway, or None. Binance
    answers -2022 when the cancel failed (nothing happened) and -2021 when the cancel succeeded
    but the new order was refused (the order is then gone: following it reports the cancel).
    When the venue cannot be asked, following the original would end our order as cancelled
    while its replacement may be working: it is looked up by client id on the next poll instead."""
    if error.ambiguous:
        try:
            found = await flow.client.find_by_client_id(
                tracked.symbol, tracked.venue_client_id, tracked.is_stop
            )
        except VenueError as lookup_error:
            tracked.unresolved = True
            tracked.replace_in_doubt = replace
            flow.refuse(tracked, "amend", f"{error} (and the lookup failed: {lookup_error}; resolving)")
            return None
        if found is not None and str(found.get("id")) != old_id:
            return str(found["id"])
    flow.refuse(tracked, "amend", str(error))
    try:
        await flow.follow(tracked, None)
    except VenueError as follow_error:
        logger.info("%s: %s not followed now: %s", flow.name, tracked.order_id, follow_error)
    return None


async def _shrink(
    flow: OrderWorkflow,
    tracked: TrackedOrder,
    new_id: str,
    left: Decimal,
    price: Decimal | None,
    params: dict[str, object],
) -> None:
    """The original filled more between our read and its cancel: take the excess off the new order."""
    client = flow.client
    logger.warning(
        "%s: replacement %s of %s is too large; shrinking to %s", flow.name, new_id, tracked.order_id, left
    )
    if left <= ZERO:
        await client.cancel_order(new_id, tracked.symbol, tracked.untriggered_stop)
        return
    raw = await client.edit_order(
        new_id, tracked.symbol, tracked.ccxt_type, tracked.side.value, left, price, params
    )
    flow.add_venue_order_id(tracked, order_from_ccxt(raw).venue_order_id)
