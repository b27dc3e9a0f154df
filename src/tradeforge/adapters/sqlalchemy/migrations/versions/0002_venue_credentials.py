"""Venue credentials: exchange API keys and secrets, sealed with the master key (AES-256-GCM).

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "venue_credentials",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("venue", sa.String(32), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("api_key_masked", sa.String(16), nullable=False),
        sa.Column("api_key_sealed", sa.Text(), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("passphrase_sealed", sa.Text(), nullable=True),
        sa.Column("key_fingerprint", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("rotated_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_venue_credentials"),
        sa.UniqueConstraint("venue", "label", name="uq_venue_credentials_venue_label"),
    )


def downgrade() -> None:
    op.drop_table("venue_credentials")
