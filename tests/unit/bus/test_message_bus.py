"""The in-process bus: one handler per command, wildcard subscriptions in order."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tradeforge.bus import topics
from tradeforge.bus.message_bus import HandlerAlreadyRegistered, MessageBus, NoHandler
from tradeforge.domain.commands import Command


@dataclass(frozen=True)
class Ping(Command):
    value: int


def test_a_command_goes_to_exactly_one_handler_and_returns_its_result() -> None:
    bus = MessageBus()
    bus.register(Ping, lambda command: command.value * 2)
    assert bus.send(Ping(21)) == 42
    with pytest.raises(HandlerAlreadyRegistered):
        bus.register(Ping, lambda command: None)


def test_a_command_without_handler_raises() -> None:
    with pytest.raises(NoHandler):
        MessageBus().send(Ping(1))


def test_events_reach_every_matching_subscriber_in_subscription_order() -> None:
    bus = MessageBus()
    seen: list[tuple[str, object]] = []
    bus.subscribe(topics.ALL_BARS, lambda m: seen.append(("all-bars", m)))
    bus.subscribe(topics.bars("BTC/USDT", "1m"), lambda m: seen.append(("btc-1m", m)))
    bus.subscribe("data.*", lambda m: seen.append(("one-token", m)))
    bus.publish(topics.bars("BTC/USDT", "1m"), 1)
    bus.publish(topics.bars("ETH/USDT", "5m"), 2)
    bus.publish(topics.last_price("BTC/USDT"), 3)
    assert seen == [("all-bars", 1), ("btc-1m", 1), ("all-bars", 2)]


def test_unsubscribe_and_late_subscribers() -> None:
    bus = MessageBus()
    seen: list[object] = []

    def handler(message: object) -> None:
        seen.append(message)

    bus.publish(topics.order_event("filled"), "before")
    bus.subscribe(topics.ALL_ORDER_EVENTS, handler)
    bus.publish(topics.order_event("filled"), "after")
    bus.unsubscribe(topics.ALL_ORDER_EVENTS, handler)
    bus.publish(topics.order_event("filled"), "gone")
    assert seen == ["after"]


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        (">", "a", True),
        ("a.>", "a", False),
        ("a.>", "a.b.c", True),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.b", "a.b", True),
        ("a.b", "a.c", False),
    ],
)
def test_topic_matching(pattern: str, topic: str, expected: bool) -> None:
    assert topics.matches(pattern, topic) is expected
