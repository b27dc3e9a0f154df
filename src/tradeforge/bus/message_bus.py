"""In-process synchronous message bus: the only way engines talk to each other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tradeforge.bus.errors import HandlerAlreadyRegistered, NoHandler
from tradeforge.bus.topics import matches
from tradeforge.domain.commands import Command

__all__ = ["Handler", "HandlerAlreadyRegistered", "MessageBus", "NoHandler"]

Handler = Callable[[Any], Any]


class MessageBus:
    """Commands go to exactly one handler and return its result; published messages go to every
    subscriber whose pattern matches, in subscription order, synchronously.

    Subscriber order is part of the contract: the composition root subscribes the paper venue's
    matching before strategies, so a bar first fills resting orders and then reaches strategies."""

    def __init__(self) -> None:
        self._handlers: dict[type[Command], Handler] = {}
        self._subscriptions: list[tuple[str, Handler]] = []
        self._routes: dict[str, tuple[Handler, ...]] = {}

    def register(self, command_type: type[Command], handler: Handler) -> None:
        if command_type in self._handlers:
            raise HandlerAlreadyRegistered(command_type.__name__)
        self._handlers[command_type] = handler

    def send(self, command: Command) -> Any:
        handler = self._handlers.get(type(command))
        if handler is None:
            raise NoHandler(type(command).__name__)
        return handler(command)

    def subscribe(self, pattern: str, handler: Handler) -> None:
        self._subscriptions.append((pattern, handler))
        self._routes.clear()

    def unsubscribe(self, pattern: str, handler: Handler) -> None:
        self._subscriptions = [(p, h) for p, h in self._subscriptions if not (p == pattern and h == handler)]
        self._routes.clear()

    def publish(self, topic: str, message: object) -> None:
        route = self._routes.get(topic)
        if route is None:
            route = self._route(topic)
        for handler in route:
            handler(message)

    def wants(self, topic: str) -> bool:
        """Whether anyone subscribes to `topic` now (cached like publishing's routes): lets a
        publisher skip building a message nobody would receive."""
        route = self._routes.get(topic)
        return bool(route if route is not None else self._route(topic))

    def _route(self, topic: str) -> tuple[Handler, ...]:
        route = self._routes[topic] = tuple(h for p, h in self._subscriptions if matches(p, topic))
        return route

    def has_subscribers(self, topic: str) -> bool:
        return any(matches(p, topic) for p, _ in self._subscriptions)
