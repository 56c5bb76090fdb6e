"""Initial schema: vendors, keys, secrets, customers, plans, events, voids, outcomes.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(40)
BIGKEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
AMOUNT = sa.Numeric(38, 12)
COUNTED = sa.text("state = 'counted'")


def upgrade() -> None:
    op.create_table(
        "vendors",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", ID, primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("prefix", sa.String(40), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_index("ix_api_keys_vendor_id", "api_keys", ["vendor_id"])
    op.create_table(
        "signing_secrets",
        sa.Column("id", ID, primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
    )
    op.create_index("ix_signing_secrets_vendor_id", "signing_secrets", ["vendor_id"])
    op.create_table(
        "plans",
        sa.Column("id", ID, primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("slug", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("vendor_id", "slug", name="uq_plans_vendor_slug"),
    )
    op.create_table(
        "plan_versions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("plan_id", ID, sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("yaml", sa.Text(), nullable=False),
        sa.Column("parsed", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("plan_id", "version", name="uq_plan_versions_plan_version"),
    )
    op.create_table(
        "customers",
        sa.Column("id", ID, primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("plan_id", ID, sa.ForeignKey("plans.id"), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("vendor_id", "external_id", name="uq_customers_vendor_external_id"),
    )
    op.create_table(
        "events",
        sa.Column("pk", BIGKEY, primary_key=True, autoincrement=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("customer_external_id", sa.String(200), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("cost", sa.JSON(), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("plan_version_id", ID, sa.ForeignKey("plan_versions.id"), nullable=True),
        sa.UniqueConstraint("vendor_id", "event_id", name="uq_events_vendor_event_id"),
    )
    op.create_index(
        "ix_events_vendor_customer_occurred", "events", ["vendor_id", "customer_id", "occurred_at"]
    )
    op.create_index("ix_events_vendor_status", "events", ["vendor_id", "status"])
    op.create_index("ix_events_vendor_type", "events", ["vendor_id", "type"])
    op.create_table(
        "event_voids",
        sa.Column("event_pk", BIGKEY, sa.ForeignKey("events.pk"), primary_key=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("voided_at", TS, nullable=False),
    )
    op.create_table(
        "outcomes",
        sa.Column("id", BIGKEY, primary_key=True, autoincrement=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("plan_version_id", ID, sa.ForeignKey("plan_versions.id"), nullable=False),
        sa.Column("event_pk", BIGKEY, sa.ForeignKey("events.pk"), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(200), nullable=False),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.Column("match_key", sa.Text(), nullable=True),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("value", AMOUNT, nullable=True),
        sa.Column("value_text", sa.Text(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("settles_at", TS, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
    )
    key = ["customer_id", "outcome", "period_start", "dedupe_key"]
    op.create_index(
        "uq_outcomes_counted_key",
        "outcomes",
        key,
        unique=True,
        sqlite_where=COUNTED,
        postgresql_where=COUNTED,
    )
    op.create_index("ix_outcomes_key", "outcomes", key)
    op.create_index("ix_outcomes_match", "outcomes", ["match_key", "customer_id", "outcome"])
    op.create_index("ix_outcomes_event_pk", "outcomes", ["event_pk"])
    op.create_table(
        "outcome_reversals",
        sa.Column("id", BIGKEY, primary_key=True, autoincrement=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("outcome", sa.String(200), nullable=False),
        sa.Column("match_key", sa.Text(), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("event_pk", BIGKEY, sa.ForeignKey("events.pk"), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
    )
    op.create_index(
        "ix_outcome_reversals_match", "outcome_reversals", ["customer_id", "outcome", "match_key"]
    )
    op.create_index("ix_outcome_reversals_event_pk", "outcome_reversals", ["event_pk"])


def downgrade() -> None:
    for table in (
        "outcome_reversals",
        "outcomes",
        "event_voids",
        "events",
        "customers",
        "plan_versions",
        "plans",
        "signing_secrets",
        "api_keys",
        "vendors",
    ):
        op.drop_table(table)
