"""Trading service: the async facade the API (and in-process tools) use to command and query the system.

Commands run on the event loop thread, where all engine state lives, and are answered only once
their unit is durable. Database reads run in worker threads."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradeforge.bus import codec
from tradeforge.domain.commands import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    SetTradingState,
    SubmitOrder,
    UpdateRiskLimits,
)
from tradeforge.domain.errors import OrderNotFound, TradeForgeError, ValidationError
from tradeforge.domain.orders import Order
from tradeforge.engine.risk_rules import TradingState
from tradeforge.ports.persistence import (
    ApiKeyRecord,
    AuditEntry,
    FillQuery,
    IdempotencyRecord,
    OrderQuery,
    Page,
)
from tradeforge.runtime.system import TradingSystem
from tradeforge.strategies import registry
from tradeforge.strategies.runner import StrategyStatusView


class NotDurable(TradeForgeError):
    """The change could not be committed; nothing was acknowledged."""


class IdempotencyKeyReused(TradeForgeError):
    """The Idempotency-Key was first used with a different request."""


class StrategyExists(TradeForgeError):
    """A strategy with this id is already added."""


class StrategyNotFound(TradeForgeError):
    """No strategy with this id is added."""


class VenueNotReconciled(TradeForgeError):
    """No reconciler runs for this venue (not a live venue, or reconciliation is off)."""


@dataclass(frozen=True, slots=True)
class Reply:
    status_code: int
    body: Any


class TradingService:
    def __init__(self, system: TradingSystem) -> None:
        self.system = system
        self._idempotency: dict[tuple[str, str], tuple[IdempotencyRecord, Future[None] | None]] = {}

    # --- orders --------------------------------------------------------------------------------
    async def submit_order(
        self, command: SubmitOrder, idempotency_key: str | None = None, fingerprint: str = ""
    ) -> Reply:
        account = command.account_id
        if idempotency_key is not None:
            replay = await self._replay(account, idempotency_key, fingerprint)
            if replay is not None:
                return replay
        system = self.system
        existed = system.cache.order_id_for(account, command.client_order_id) is not None
        with system.recorder.unit() as handle:
            order = system.bus.send(command)
            body = codec.order_to_dict(order)
            status = 200 if existed else 201
            if idempotency_key is not None:
                record = IdempotencyRecord(
                    account, idempotency_key, fingerprint, status, codec.dumps(body), system.clock.now_ms()
                )
                system.recorder.idempotency(record)
        if idempotency_key is not None and handle.committed is not None:
            # Held only until durable; from then on the database answers replays.
            key = (account, idempotency_key)
            self._idempotency[key] = (record, handle.committed)
            handle.committed.add_done_callback(lambda _done: self._idempotency.pop(key, None))
        await self._durable(handle.committed)
        return Reply(status, body)

    async def cancel_order(self, account_id: str, order_id: str) -> dict[str, Any]:
        return await self._command_order(CancelOrder(account_id, order_id))

    async def amend_order(
        self, account_id: str, order_id: str, quantity: Decimal | None, price: Decimal | None
    ) -> dict[str, Any]:
        return await self._command_order(AmendOrder(account_id, order_id, quantity, price))

    async def cancel_all(self, account_id: str, symbol: str | None = None) -> list[dict[str, Any]]:
        result, handle = self.system.send(CancelAllOrders(account_id, symbol=symbol))
        bodies = [codec.order_to_dict(order) for order in result]
        await self._durable(handle.committed)
        return bodies

    async def get_order(self, account_id: str, order_id: str) -> dict[str, Any]:
        order = self.system.cache.get(order_id) or await asyncio.to_thread(self._stored_order, order_id)
        if order is None or order.account_id != account_id:
            raise OrderNotFound(order_id)
        return codec.order_to_dict(order)

    async def list_orders(self, query: OrderQuery) -> Page[dict[str, Any]]:
        def read() -> Page[Order]:
            with self.system.uow_factory() as uow:
                return uow.orders.list(query)

        page = await asyncio.to_thread(read)
        return Page([codec.order_to_dict(o) for o in page.items], page.next_cursor)

    async def list_fills(self, query: FillQuery) -> Page[dict[str, Any]]:
        def read() -> Page[Any]:
            with self.system.uow_factory() as uow:
                return uow.fills.list(query)

        page = await asyncio.to_thread(read)
        return Page([codec.fill_to_dict(f) for f in page.items], page.next_cursor)

    # --- books ---------------------------------------------------------------------------------
    def positions(self, account_id: str) -> list[dict[str, Any]]:
        portfolio = self.system.portfolio
        return [
            codec.position_to_dict(p, portfolio.last_price(p.symbol)) for p in portfolio.positions(account_id)
        ]

    def balances(self, account_id: str) -> list[dict[str, Any]]:
        portfolio = self.system.portfolio
        reserved = portfolio.reserved(account_id)
        return [
            codec.balance_to_dict(b, min(b.total, reserved.get(b.asset, Decimal(0))))
            for b in portfolio.balances(account_id)
        ]

    # --- risk ----------------------------------------------------------------------------------
    def risk_status(self) -> dict[str, Any]:
        return codec.to_primitive(self.system.risk.status())  # type: ignore[no-any-return]

    def risk_limits(self) -> dict[str, Any]:
        return self.system.risk.limits.to_dict()

    async def update_risk_limits(self, changes: dict[str, Any], actor: str) -> dict[str, Any]:
        _, handle = self.system.send(UpdateRiskLimits(changes, actor))
        await self._durable(handle.committed)
        return self.risk_limits()

    async def set_kill_switch(
        self, engaged: bool, reason: str, actor: str, cancel_open_orders: bool | None = None
    ) -> dict[str, Any]:
        state = TradingState.HALTED if engaged else TradingState.ACTIVE
        _, handle = self.system.send(SetTradingState(state.value, reason, actor, cancel_open_orders))
        await self._durable(handle.committed)
        return self.risk_status()

    async def set_trading_state(self, state: str, reason: str, actor: str) -> dict[str, Any]:
        _, handle = self.system.send(SetTradingState(state, reason, actor))
        await self._durable(handle.committed)
        return self.risk_status()

    # --- reconciliation (live venues) -------------------------------------------------------------
    def reconciliation_status(self) -> list[dict[str, Any]]:
        reconciliation = self.system.reconciliation
        return [] if reconciliation is None else reconciliation.status()

    def _reconciler(self, venue: str) -> Any:
        reconciliation = self.system.reconciliation
        reconciler = None if reconciliation is None else reconciliation.reconcilers.get(venue)
        if reconciler is None:
            raise VenueNotReconciled(f"no reconciler runs for venue {venue!r}")
        return reconciler

    def _venue_status(self, venue: str) -> dict[str, Any]:
        return next(s for s in self.reconciliation_status() if s["venue"] == venue)

    async def reconcile(self, venue: str, actor: str) -> dict[str, Any]:
        """Run now (after a run already under way) and answer with its outcome."""
        reconciler = self._reconciler(venue)
        reconciler.books.audit(actor, "reconciliation.request", "run", {})
        await reconciler.reconcile("manual")
        return self._venue_status(venue)

    async def acknowledge_discrepancy(self, venue: str, key: str, reason: str, actor: str) -> dict[str, Any]:
        """An operator accepts a flagged discrepancy; a run follows at once."""
        reconciler = self._reconciler(venue)
        reconciler.acknowledge(key, actor, reason)
        await reconciler.reconcile("acknowledged")
        return self._venue_status(venue)

    # --- strategies ----------------------------------------------------------------------------
    def strategies(self) -> list[dict[str, Any]]:
        return [strategy_to_dict(view) for view in self.system.strategies.status()]

    def available_strategies(self) -> list[dict[str, Any]]:
        return [codec.to_primitive(info) for info in registry.available()]

    async def add_strategy(
        self,
        strategy_id: str,
        name: str,
        symbols: tuple[str, ...],
        timeframe: str,
        params: dict[str, Any],
        field_prefix: str = "body.",
    ) -> dict[str, Any]:
        """Add and start a strategy; errors name the offending field (`<prefix>name`, `<prefix>params.x`,
        `<prefix>symbols`)."""
        if self._has_strategy(strategy_id):
            raise StrategyExists(f"strategy {strategy_id!r} is already added; stop or start it instead")
        with self.system.recorder.unit() as handle:
            add_strategy(self.system, strategy_id, name, symbols, timeframe, params, field_prefix)
            self.system.strategies.start(strategy_id)
        await self._durable(handle.committed)
        return self._strategy(strategy_id)

    async def start_strategy(self, strategy_id: str) -> dict[str, Any]:
        return await self._change_strategy(strategy_id, self.system.strategies.start)

    async def stop_strategy(self, strategy_id: str) -> dict[str, Any]:
        return await self._change_strategy(strategy_id, self.system.strategies.stop)

    async def _change_strategy(self, strategy_id: str, change: Any) -> dict[str, Any]:
        if not self._has_strategy(strategy_id):
            raise StrategyNotFound(f"no strategy {strategy_id!r}")
        with self.system.recorder.unit() as handle:
            change(strategy_id)
        await self._durable(handle.committed)
        return self._strategy(strategy_id)

    def _has_strategy(self, strategy_id: str) -> bool:
        return any(view.strategy_id == strategy_id for view in self.system.strategies.status())

    def _strategy(self, strategy_id: str) -> dict[str, Any]:
        return strategy_to_dict(self.system.strategies.status(strategy_id)[0])

    # --- keys and audit ------------------------------------------------------------------------
    async def authenticate(self, secret: str) -> ApiKeyRecord | None:
        return await asyncio.to_thread(self.system.api_keys.authenticate, secret)

    async def create_key(
        self, name: str, role: str, actor: str, account_id: str | None = None
    ) -> tuple[ApiKeyRecord, str]:
        return await asyncio.to_thread(self.system.api_keys.create, name, role, actor, account_id)

    async def list_keys(self) -> list[ApiKeyRecord]:
        return await asyncio.to_thread(self.system.api_keys.list)

    async def revoke_key(self, key_id: str, actor: str) -> ApiKeyRecord | None:
        return await asyncio.to_thread(self.system.api_keys.revoke, key_id, actor)

    async def list_audit(self, cursor: str | None, limit: int, action: str | None) -> Page[AuditEntry]:
        def read() -> Page[AuditEntry]:
            with self.system.uow_factory() as uow:
                return uow.audit.list(cursor, limit, action)

        return await asyncio.to_thread(read)

    # --- internals -----------------------------------------------------------------------------
    async def _command_order(self, command: CancelOrder | AmendOrder) -> dict[str, Any]:
        order, handle = self.system.send(command)
        body = codec.order_to_dict(order)
        await self._durable(handle.committed)
        return body

    def _stored_order(self, order_id: str) -> Order | None:
        with self.system.uow_factory() as uow:
            return uow.orders.get(order_id)

    async def _replay(self, account_id: str, key: str, fingerprint: str) -> Reply | None:
        cached = self._idempotency.get((account_id, key))
        if cached is None:
            record = await asyncio.to_thread(self._stored_idempotency, account_id, key)
            if record is None:
                return None
            cached = (record, None)
        record, committed = cached
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {key!r} was first used with a different request; use a new key"
            )
        await self._durable(committed)
        return Reply(record.status_code, codec.json_loads(record.body))

    def _stored_idempotency(self, account_id: str, key: str) -> IdempotencyRecord | None:
        with self.system.uow_factory() as uow:
            return uow.idempotency.get(account_id, key)

    @staticmethod
    async def _durable(committed: Future[None] | None) -> None:
        if committed is None:
            return
        try:
            await asyncio.wrap_future(committed)
        except Exception as error:
            raise NotDurable(f"the change could not be stored: {error}") from error


def add_strategy(
    system: TradingSystem,
    strategy_id: str,
    name: str,
    symbols: tuple[str, ...],
    timeframe: str,
    params: dict[str, Any],
    field_prefix: str = "",
) -> None:
    """Resolve `name`, build its config from `params` and add it to the system's runner (not started).
    Each ValidationError is re-raised naming the input field it came from."""
    try:
        cls = registry.resolve(name)
    except ValidationError as error:
        raise ValidationError(f"{field_prefix}name", error.message) from error
    try:
        strategy = cls(params)
    except ValidationError as error:
        raise ValidationError(f"{field_prefix}params{error.field[len('config') :]}", error.message) from error
    for symbol in symbols:
        try:
            system.instruments.find(symbol)
        except ValidationError as error:
            raise ValidationError(f"{field_prefix}symbols", error.message) from error
    system.strategies.add(strategy_id, strategy, symbols, timeframe)


def strategy_to_dict(view: StrategyStatusView) -> dict[str, Any]:
    body: dict[str, Any] = codec.to_primitive(view)
    body["id"] = body.pop("strategy_id")
    return body
