"""Domain error hierarchy: every failure the core can name, independent of any adapter."""

from __future__ import annotations


class TradeForgeError(Exception):
    """Root of every error this package raises on purpose."""


class ValidationError(TradeForgeError):
    """Input that cannot be accepted; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidTransition(TradeForgeError):
    """An order event that the transition table does not allow from the order's current status."""

    def __init__(self, order_id: str, status: str, event: str) -> None:
        super().__init__(f"order {order_id}: {event} is not allowed in status {status}")
        self.order_id = order_id
        self.status = status
        self.event = event


class OrderNotFound(TradeForgeError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} not found")
        self.order_id = order_id


class OrderNotAmendable(TradeForgeError):
    """Amend or cancel of an order that is already terminal or cannot take that change."""


class UnknownInstrument(ValidationError):
    def __init__(self, symbol: str) -> None:
        super().__init__("symbol", f"unknown instrument {symbol!r}")


class InsufficientBalance(TradeForgeError):
    """A debit that would make a balance negative."""
