"""Every topic name on the bus is built here, so publishers and subscribers cannot drift apart.

Topics are dot-separated tokens. In subscription patterns `*` matches one token and `>` (last only)
matches one or more trailing tokens, as in NATS."""

from __future__ import annotations

ORDERS = "events.order"
FILLS = "events.fill"
POSITIONS = "events.position"
BALANCES = "events.balance"
RISK = "events.risk"
RECONCILIATION = "events.reconciliation"
BARS = "data.bars"
TICKS = "data.ticks"
LAST_PRICE = "data.last"


def order_event(kind: str) -> str:
    """kind: submitted, accepted, rejected, filled, cancelled, expired, amended, triggered."""
    return f"{ORDERS}.{kind}"


def fill(symbol: str) -> str:
    return f"{FILLS}.{symbol}"


def position(symbol: str) -> str:
    return f"{POSITIONS}.{symbol}"


def balance(asset: str) -> str:
    return f"{BALANCES}.{asset}"


def risk(kind: str) -> str:
    """kind: state or limits."""
    return f"{RISK}.{kind}"


def reconciliation(venue: str, kind: str) -> str:
    """kind: corrected, flagged, state or completed (engine/reconciliation_events.py)."""
    return f"{RECONCILIATION}.{venue}.{kind}"


def bars(symbol: str, timeframe: str) -> str:
    return f"{BARS}.{symbol}.{timeframe}"


def ticks(symbol: str) -> str:
    return f"{TICKS}.{symbol}"


def last_price(symbol: str) -> str:
    return f"{LAST_PRICE}.{symbol}"


ALL_ORDER_EVENTS = f"{ORDERS}.*"
ALL_FILLS = f"{FILLS}.*"
ALL_POSITIONS = f"{POSITIONS}.*"
ALL_BALANCES = f"{BALANCES}.*"
ALL_RISK = f"{RISK}.*"
ALL_RECONCILIATION = f"{RECONCILIATION}.>"
ALL_BARS = f"{BARS}.>"
ALL_TICKS = f"{TICKS}.*"
ALL_LAST_PRICES = f"{LAST_PRICE}.*"
EVERYTHING = ">"


def matches(pattern: str, topic: str) -> bool:
    pattern_tokens = pattern.split(".")
    topic_tokens = topic.split(".")
    for index, token in enumerate(pattern_tokens):
        if token == ">":
            return index == len(pattern_tokens) - 1 and len(topic_tokens) > index
        if index >= len(topic_tokens):
            return False
        if token != "*" and token != topic_tokens[index]:
            return False
    return len(pattern_tokens) == len(topic_tokens)
