"""Vendor insight: alert rules and firings, outbound webhook endpoints, deliveries and attempts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)
AMOUNT = sa.Numeric(38, 12)
BIGINT_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", ID, primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100), nullable=True),
        sa.Column("previous_secret_until", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_webhook_endpoints_vendor", "webhook_endpoints", ["vendor_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", ID, primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("endpoint_id", ID, sa.ForeignKey("webhook_endpoints.id"), nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("event_type", sa.String(60), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("lease_owner", sa.String(80), nullable=True),
        sa.Column("give_up_at", TS, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_event"),
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index("ix_webhook_deliveries_vendor", "webhook_deliveries", ["vendor_id", "id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", BIGINT_KEY, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", ID, sa.ForeignKey("webhook_deliveries.id"), nullable=False),
        sa.Column("attempted_at", TS, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
    )
    op.create_index("ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id"])
    op.create_table(
        "alert_rules",
        sa.Column("id", ID, primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), nullable=True),
        sa.Column("plan_id", ID, sa.ForeignKey("plans.id"), nullable=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("threshold", AMOUNT, nullable=False),
        sa.Column("outcome", sa.String(200), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("deleted_at", TS, nullable=True),
        sa.CheckConstraint(
            "(customer_id IS NULL) <> (plan_id IS NULL)", name="ck_alert_rules_one_scope"
        ),
    )
    op.create_index("ix_alert_rules_vendor", "alert_rules", ["vendor_id", "id"])
    op.create_table(
        "alert_firings",
        sa.Column("id", BIGINT_KEY, primary_key=True, autoincrement=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("rule_key", ID, nullable=False),
        sa.Column("rule_id", ID, sa.ForeignKey("alert_rules.id"), nullable=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("figure", AMOUNT, nullable=False),
        sa.Column("threshold", AMOUNT, nullable=False),
        sa.Column("fired_at", TS, nullable=False),
        sa.UniqueConstraint(
            "rule_key", "customer_id", "period_start", name="uq_alert_firings_once"
        ),
    )
    op.create_index("ix_alert_firings_vendor", "alert_firings", ["vendor_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_alert_firings_vendor", "alert_firings")
    op.drop_table("alert_firings")
    op.drop_index("ix_alert_rules_vendor", "alert_rules")
    op.drop_table("alert_rules")
    op.drop_index("ix_webhook_attempts_delivery", "webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_vendor", "webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_due", "webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhook_endpoints_vendor", "webhook_endpoints")
    op.drop_table("webhook_endpoints")
