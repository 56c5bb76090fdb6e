"""Customer billing portal: portal sessions, the cookie signing key, locale and branding.

Customers gain `locale` (how the portal formats for them); vendors gain their portal display
name and brand colour (null: the settings' defaults).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("locale", sa.String(20), nullable=False, server_default="en_US"))
    with op.batch_alter_table("vendors") as batch:
        batch.add_column(sa.Column("portal_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("portal_color", sa.String(7), nullable=True))
    op.create_table(
        "portal_sessions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("return_url", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
    )
    op.create_index("uq_portal_sessions_token_hash", "portal_sessions", ["token_hash"], unique=True)
    op.create_index("ix_portal_sessions_customer", "portal_sessions", ["customer_id"])
    op.create_table(
        "portal_keys",
        sa.Column("id", ID, primary_key=True),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("portal_keys")
    op.drop_index("ix_portal_sessions_customer", table_name="portal_sessions")
    op.drop_index("uq_portal_sessions_token_hash", table_name="portal_sessions")
    op.drop_table("portal_sessions")
    with op.batch_alter_table("vendors") as batch:
        batch.drop_column("portal_color")
        batch.drop_column("portal_name")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("locale")
