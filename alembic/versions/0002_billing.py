"""Billing: subscriptions, invoices and lines, numbering, stale periods, Stripe, jobs.

Customers lose `plan_id` (a customer's subscriptions say which version prices which time)
and gain their Stripe collection settings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)
AMOUNT = sa.Numeric(38, 12)
ID_LIST = sa.JSON().with_variant(postgresql.ARRAY(sa.BigInteger()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("plan_id")
        batch.add_column(
            sa.Column(
                "collection_method",
                sa.String(30),
                nullable=False,
                server_default="charge_automatically",
            )
        )
        batch.add_column(
            sa.Column("days_until_due", sa.Integer(), nullable=False, server_default="30")
        )
        batch.add_column(sa.Column("stripe_customer_id", sa.String(100), nullable=True))
    op.create_table(
        "subscriptions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("plan_id", ID, sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("plan_version_id", ID, sa.ForeignKey("plan_versions.id"), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=True),
        sa.Column("billed_through", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("customer_id", "starts_at", name="uq_subscriptions_customer_start"),
    )
    op.create_index("ix_subscriptions_vendor", "subscriptions", ["vendor_id"])
    op.create_table(
        "invoices",
        sa.Column("id", ID, primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("subscription_id", ID, sa.ForeignKey("subscriptions.id"), nullable=False),
        sa.Column("plan_version_id", ID, sa.ForeignKey("plan_versions.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("as_of", TS, nullable=False),
        sa.Column("total", AMOUNT, nullable=False),
        sa.Column("collection_method", sa.String(30), nullable=False),
        sa.Column("due_at", TS, nullable=True),
        sa.Column("issued_at", TS, nullable=True),
        sa.Column("paid_at", TS, nullable=True),
        sa.Column("voided_at", TS, nullable=True),
        sa.Column("sync_state", sa.String(20), nullable=False),
        sa.Column("sync_error", sa.Text(), nullable=True),
        sa.Column("sync_attempts", sa.Integer(), nullable=False),
        sa.Column("next_sync_at", TS, nullable=True),
        sa.Column("sync_lease_owner", sa.String(80), nullable=True),
        sa.Column("sync_lease_until", TS, nullable=True),
        sa.Column("stripe_invoice_id", sa.String(100), nullable=True),
        sa.Column("stripe_hosted_url", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("customer_id", "period_start", name="uq_invoices_customer_period"),
        sa.UniqueConstraint("vendor_id", "number", name="uq_invoices_vendor_number"),
    )
    op.create_index("ix_invoices_vendor_status", "invoices", ["vendor_id", "status"])
    op.create_index("ix_invoices_sync", "invoices", ["sync_state", "next_sync_at"])
    op.create_index(
        "uq_invoices_stripe_invoice_id", "invoices", ["stripe_invoice_id"], unique=True
    )
    op.create_table(
        "invoice_lines",
        sa.Column("id", ID, primary_key=True),
        sa.Column("invoice_id", ID, sa.ForeignKey("invoices.id"), nullable=False),
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("charge_key", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(200), nullable=True),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("corrects_invoice_id", ID, sa.ForeignKey("invoices.id"), nullable=True),
        sa.Column("quantity", AMOUNT, nullable=True),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("outcome_ids", ID_LIST, nullable=False),
        sa.Column("stripe_item_id", sa.String(100), nullable=True),
        sa.UniqueConstraint("invoice_id", "position", name="uq_invoice_lines_position"),
    )
    op.create_index("ix_invoice_lines_corrects", "invoice_lines", ["corrects_invoice_id"])
    op.create_index(
        "ix_invoice_lines_customer_period", "invoice_lines", ["customer_id", "period_start"]
    )
    op.create_table(
        "invoice_counters",
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), primary_key=True),
        sa.Column("last_number", sa.Integer(), nullable=False),
    )
    op.create_table(
        "stale_periods",
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), primary_key=True),
        sa.Column("period_start", TS, primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("marked_at", TS, nullable=False),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("stripe_invoice_id", sa.String(100), nullable=True),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(191), primary_key=True),
        sa.Column("next_run_time", sa.Float(25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_apscheduler_jobs_next_run_time", "apscheduler_jobs", ["next_run_time"])


def downgrade() -> None:
    op.drop_index("ix_apscheduler_jobs_next_run_time", "apscheduler_jobs")
    for table in (
        "apscheduler_jobs",
        "stripe_events",
        "stale_periods",
        "invoice_counters",
        "invoice_lines",
        "invoices",
        "subscriptions",
    ):
        op.drop_table(table)
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("stripe_customer_id")
        batch.drop_column("days_until_due")
        batch.drop_column("collection_method")
        batch.add_column(sa.Column("plan_id", ID, nullable=True))
        batch.create_foreign_key("fk_customers_plan_id", "plans", ["plan_id"], ["id"])
