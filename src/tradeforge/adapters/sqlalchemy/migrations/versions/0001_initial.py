"""Initial schema: orders, fills, positions, balances, outbox, audit log, API keys, idempotency, settings.

Revision ID: 0001
Revises:
Create Date: 2024-11-21
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Frozen copies of the column types as of this revision, so later changes to tables.py or
# types.py cannot change what this migration creates.
def _decimal() -> TypeEngine[Any]:
    """tradeforge DecimalType: exact NUMERIC on PostgreSQL, plain-notation TEXT elsewhere."""
    return sa.Text().with_variant(postgresql.NUMERIC(asdecimal=True), "postgresql")


def _sort_key(length: int) -> TypeEngine[Any]:
    """Byte-order ("C") collation on PostgreSQL so cursor pagination matches SQLite and Python."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", _sort_key(64), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("venue", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("quantity", _decimal(), nullable=False),
        sa.Column("price", _decimal(), nullable=True),
        sa.Column("stop_price", _decimal(), nullable=True),
        sa.Column("time_in_force", sa.String(8), nullable=False),
        sa.Column("expire_at", sa.BigInteger(), nullable=True),
        sa.Column("strategy_id", sa.String(128), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filled_quantity", _decimal(), nullable=False),
        sa.Column("filled_notional", _decimal(), nullable=False),
        sa.Column("fees", _decimal(), nullable=False),
        sa.Column("venue_order_id", sa.String(128), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("triggered", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("account_id", "client_order_id", name="uq_orders_account_id_client_order_id"),
    )
    op.create_index("ix_orders_account_id_id", "orders", ["account_id", "id"])
    op.create_index("ix_orders_account_id_status_id", "orders", ["account_id", "status", "id"])
    op.create_index("ix_orders_account_id_symbol_id", "orders", ["account_id", "symbol", "id"])
    op.create_index("ix_orders_strategy_id", "orders", ["strategy_id"])
    op.create_index("ix_orders_status", "orders", ["status"])

    op.create_table(
        "fills",
        sa.Column("fill_id", _sort_key(128), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("venue", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("quantity", _decimal(), nullable=False),
        sa.Column("price", _decimal(), nullable=False),
        sa.Column("fee", _decimal(), nullable=False),
        sa.Column("fee_asset", sa.String(64), nullable=False),
        sa.Column("liquidity", sa.String(8), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("strategy_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("fill_id", name="pk_fills"),
    )
    op.create_index("ix_fills_order_id", "fills", ["order_id"])
    op.create_index("ix_fills_account_id_fill_id", "fills", ["account_id", "fill_id"])

    op.create_table(
        "positions",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("quantity", _decimal(), nullable=False),
        sa.Column("cost_basis", _decimal(), nullable=False),
        sa.Column("realized_pnl", _decimal(), nullable=False),
        sa.Column("fees", _decimal(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "symbol", name="pk_positions"),
    )

    op.create_table(
        "balances",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(64), nullable=False),
        sa.Column("total", _decimal(), nullable=False),
        sa.Column("locked", _decimal(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "asset", name="pk_balances"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", _sort_key(64), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("published_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_published_at_id", "outbox", ["published_at", "id"])

    op.create_table(
        "audit_log",
        sa.Column("id", _sort_key(64), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_action_id", "audit_log", ["action", "id"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "key", name="pk_idempotency_keys"),
    )

    op.create_table(
        "settings",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_settings"),
    )


def downgrade() -> None:
    for table in (
        "settings",
        "idempotency_keys",
        "api_keys",
        "audit_log",
        "outbox",
        "balances",
        "positions",
        "fills",
        "orders",
    ):
        op.drop_table(table)
