"""SQLAlchemy Core schema: one MetaData holding every TradeForge table (mirrored by the migrations)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeEngine

from tradeforge.adapters.sqlalchemy.types import DecimalType

# Deterministic constraint names, so Alembic can later alter or drop them on every backend.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def sort_key(length: int) -> TypeEngine[Any]:
    """A string key that pages are ordered by: byte order ("C" collation) on PostgreSQL, as SQLite's
    BINARY collation and Python's str comparison do, so cursors mean the same on every backend."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


ID = 64  # ids we generate are ~26 characters; the margin covers other generators
NAME = 128

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sort_key(ID), primary_key=True),
    sa.Column("client_order_id", sa.String(ID), nullable=False),
    sa.Column("account_id", sa.String(ID), nullable=False),
    sa.Column("venue", sa.String(ID), nullable=False),
    sa.Column("symbol", sa.String(ID), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("quantity", DecimalType(), nullable=False),
    sa.Column("price", DecimalType(), nullable=True),
    sa.Column("stop_price", DecimalType(), nullable=True),
    sa.Column("time_in_force", sa.String(8), nullable=False),
    sa.Column("expire_at", sa.BigInteger(), nullable=True),
    sa.Column("strategy_id", sa.String(NAME), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("filled_quantity", DecimalType(), nullable=False),
    sa.Column("filled_notional", DecimalType(), nullable=False),
    sa.Column("fees", DecimalType(), nullable=False),
    sa.Column("venue_order_id", sa.String(NAME), nullable=True),
    sa.Column("reject_reason", sa.Text(), nullable=True),
    sa.Column("triggered", sa.Boolean(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.UniqueConstraint("account_id", "client_order_id"),
    # Lists are newest first per account: a trailing id lets the index deliver rows already in page
    # order, so a page costs O(limit) instead of sorting the account's whole history.
    sa.Index("ix_orders_account_id_id", "account_id", "id"),
    sa.Index("ix_orders_account_id_status_id", "account_id", "status", "id"),
    sa.Index("ix_orders_account_id_symbol_id", "account_id", "symbol", "id"),
    sa.Index("ix_orders_strategy_id", "strategy_id"),
    # list_working (recovery at start) scans by status across accounts.
    sa.Index("ix_orders_status", "status"),
)

fills = sa.Table(
    "fills",
    metadata,
    sa.Column("fill_id", sort_key(NAME), primary_key=True),
    sa.Column("order_id", sa.String(ID), nullable=False),
    sa.Column("client_order_id", sa.String(ID), nullable=False),
    sa.Column("account_id", sa.String(ID), nullable=False),
    sa.Column("venue", sa.String(ID), nullable=False),
    sa.Column("symbol", sa.String(ID), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("quantity", DecimalType(), nullable=False),
    sa.Column("price", DecimalType(), nullable=False),
    sa.Column("fee", DecimalType(), nullable=False),
    sa.Column("fee_asset", sa.String(ID), nullable=False),
    sa.Column("liquidity", sa.String(8), nullable=False),
    sa.Column("ts", sa.BigInteger(), nullable=False),
    sa.Column("strategy_id", sa.String(NAME), nullable=True),
    sa.Index("ix_fills_order_id", "order_id"),
    sa.Index("ix_fills_account_id_fill_id", "account_id", "fill_id"),
)

positions = sa.Table(
    "positions",
    metadata,
    sa.Column("account_id", sa.String(ID), primary_key=True),
    sa.Column("symbol", sa.String(ID), primary_key=True),
    sa.Column("quantity", DecimalType(), nullable=False),
    sa.Column("cost_basis", DecimalType(), nullable=False),
    sa.Column("realized_pnl", DecimalType(), nullable=False),
    sa.Column("fees", DecimalType(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
)

balances = sa.Table(
    "balances",
    metadata,
    sa.Column("account_id", sa.String(ID), primary_key=True),
    sa.Column("asset", sa.String(ID), primary_key=True),
    sa.Column("total", DecimalType(), nullable=False),
    sa.Column("locked", DecimalType(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sort_key(ID), primary_key=True),
    sa.Column("ts", sa.BigInteger(), nullable=False),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("type", sa.String(NAME), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("published_at", sa.BigInteger(), nullable=True),
    # Leading published_at finds the unpublished rows; id then serves their delivery order.
    sa.Index("ix_outbox_published_at_id", "published_at", "id"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sort_key(ID), primary_key=True),
    sa.Column("ts", sa.BigInteger(), nullable=False),
    sa.Column("actor", sa.String(NAME), nullable=False),
    sa.Column("action", sa.String(NAME), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("details", sa.Text(), nullable=False),
    sa.Index("ix_audit_log_action_id", "action", "id"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("name", sa.String(NAME), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("account_id", sa.String(ID), nullable=False),
    sa.Column("key_hash", sa.String(NAME), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("revoked_at", sa.BigInteger(), nullable=True),
    sa.UniqueConstraint("key_hash"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("account_id", sa.String(ID), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(NAME), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
)

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)

# Exchange API credentials, sealed with the master key (security/secrets.py); only masked text is clear.
venue_credentials = sa.Table(
    "venue_credentials",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("venue", sa.String(32), nullable=False),
    sa.Column("label", sa.String(ID), nullable=False),
    sa.Column("sandbox", sa.Boolean(), nullable=False),
    sa.Column("api_key_masked", sa.String(16), nullable=False),
    sa.Column("api_key_sealed", sa.Text(), nullable=False),
    sa.Column("secret_sealed", sa.Text(), nullable=False),
    sa.Column("passphrase_sealed", sa.Text(), nullable=True),
    sa.Column("key_fingerprint", sa.String(32), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Column("rotated_at", sa.BigInteger(), nullable=True),
    sa.UniqueConstraint("venue", "label"),
)
