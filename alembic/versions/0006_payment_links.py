"""Payment links: what a payment provider holds for our invoices, lines and customers moves
out of `invoices`, `invoice_lines` and `customers` into provider-neutral link tables.

Every invoice gets a link (its sync state, lease, attempts, error, the provider's id and
hosted page); a link with any Stripe state belongs to `stripe`, the only provider so far.
Lines' Stripe items and customers' Stripe customers become their links.

Columns are dropped with ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), in batch mode
with `recreate="never"`: recreating `invoices` or `customers` would drop a table that other
rows reference, which SQLite refuses while foreign keys are enforced.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)

INVOICE_COLUMNS = (
    "sync_state",
    "sync_error",
    "sync_attempts",
    "next_sync_at",
    "sync_lease_owner",
    "sync_lease_until",
    "stripe_invoice_id",
    "stripe_hosted_url",
)

# Invoices the Stripe sync (the only one before this revision) has touched.
TOUCHED_BY_STRIPE = """(
    stripe_invoice_id IS NOT NULL OR stripe_hosted_url IS NOT NULL
    OR sync_state <> 'not_started' OR sync_error IS NOT NULL
    OR sync_attempts <> 0 OR sync_lease_owner IS NOT NULL
)"""


def upgrade() -> None:
    op.create_table(
        "invoice_payment_links",
        sa.Column("invoice_id", ID, sa.ForeignKey("invoices.id"), primary_key=True),
        sa.Column("provider", sa.String(40), nullable=True),
        sa.Column("external_id", sa.String(100), nullable=True),
        sa.Column("hosted_url", sa.Text(), nullable=True),
        sa.Column("step", sa.String(20), nullable=False),
        sa.Column("lease_owner", sa.String(80), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_invoice_payment_links_due", "invoice_payment_links", ["next_attempt_at"])
    op.create_index(
        "uq_invoice_payment_links_external",
        "invoice_payment_links",
        ["provider", "external_id"],
        unique=True,
    )
    op.create_table(
        "invoice_line_payment_links",
        sa.Column("line_id", ID, sa.ForeignKey("invoice_lines.id"), primary_key=True),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("external_id", sa.String(100), nullable=False),
    )
    op.create_table(
        "customer_payment_links",
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), primary_key=True),
        sa.Column("provider", sa.String(40), primary_key=True),
        sa.Column("external_id", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.execute(
        f"""
        INSERT INTO invoice_payment_links (
            invoice_id, provider, external_id, hosted_url, step, lease_owner, lease_until,
            attempts, next_attempt_at, error, updated_at
        )
        SELECT id, CASE WHEN {TOUCHED_BY_STRIPE} THEN 'stripe' END, stripe_invoice_id,
            stripe_hosted_url, sync_state, sync_lease_owner, sync_lease_until, sync_attempts,
            next_sync_at, sync_error, updated_at
        FROM invoices
        """
    )
    op.execute(
        """
        INSERT INTO invoice_line_payment_links (line_id, provider, external_id)
        SELECT id, 'stripe', stripe_item_id FROM invoice_lines WHERE stripe_item_id IS NOT NULL
        """
    )
    op.execute(
        """
        INSERT INTO customer_payment_links (customer_id, provider, external_id, created_at)
        SELECT id, 'stripe', stripe_customer_id, updated_at FROM customers
        WHERE stripe_customer_id IS NOT NULL
        """
    )
    op.drop_index("uq_invoices_stripe_invoice_id", table_name="invoices")
    op.drop_index("ix_invoices_sync", table_name="invoices")
    with op.batch_alter_table("invoices", recreate="never") as batch:
        for column in INVOICE_COLUMNS:
            batch.drop_column(column)
    with op.batch_alter_table("invoice_lines", recreate="never") as batch:
        batch.drop_column("stripe_item_id")
    with op.batch_alter_table("customers", recreate="never") as batch:
        batch.drop_column("stripe_customer_id")


def _copy_back(table: str, column: str, source: str) -> None:
    op.execute(f"UPDATE {table} SET {column} = ({source})")


def downgrade() -> None:
    # NOT NULL columns come back with a server default so existing rows can take them; on
    # PostgreSQL the default is then dropped, as 0002 made them (SQLite cannot drop it
    # without recreating the table).
    with op.batch_alter_table("customers", recreate="never") as batch:
        batch.add_column(sa.Column("stripe_customer_id", sa.String(100), nullable=True))
    with op.batch_alter_table("invoice_lines", recreate="never") as batch:
        batch.add_column(sa.Column("stripe_item_id", sa.String(100), nullable=True))
    with op.batch_alter_table("invoices", recreate="never") as batch:
        batch.add_column(
            sa.Column("sync_state", sa.String(20), nullable=False, server_default="not_started")
        )
        batch.add_column(sa.Column("sync_error", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("sync_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("next_sync_at", TS, nullable=True))
        batch.add_column(sa.Column("sync_lease_owner", sa.String(80), nullable=True))
        batch.add_column(sa.Column("sync_lease_until", TS, nullable=True))
        batch.add_column(sa.Column("stripe_invoice_id", sa.String(100), nullable=True))
        batch.add_column(sa.Column("stripe_hosted_url", sa.Text(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("invoices", "sync_state", server_default=None)
        op.alter_column("invoices", "sync_attempts", server_default=None)
    link = "SELECT {} FROM invoice_payment_links l WHERE l.invoice_id = invoices.id"
    stripe_link = link + " AND l.provider = 'stripe'"
    for column, source in (
        ("stripe_invoice_id", "external_id"),
        ("stripe_hosted_url", "hosted_url"),
    ):
        _copy_back("invoices", column, stripe_link.format(source))
    for column, source in (
        ("sync_error", "error"),
        ("next_sync_at", "next_attempt_at"),
        ("sync_lease_owner", "lease_owner"),
        ("sync_lease_until", "lease_until"),
    ):
        _copy_back("invoices", column, link.format(source))
    for column, source in (("sync_state", "step"), ("sync_attempts", "attempts")):
        fallback = "'not_started'" if column == "sync_state" else "0"
        _copy_back("invoices", column, f"COALESCE(({link.format(source)}), {fallback})")
    _copy_back(
        "invoice_lines",
        "stripe_item_id",
        "SELECT external_id FROM invoice_line_payment_links i "
        "WHERE i.line_id = invoice_lines.id AND i.provider = 'stripe'",
    )
    _copy_back(
        "customers",
        "stripe_customer_id",
        "SELECT external_id FROM customer_payment_links c "
        "WHERE c.customer_id = customers.id AND c.provider = 'stripe'",
    )
    op.create_index("ix_invoices_sync", "invoices", ["sync_state", "next_sync_at"])
    op.create_index(
        "uq_invoices_stripe_invoice_id", "invoices", ["stripe_invoice_id"], unique=True
    )
    op.drop_table("customer_payment_links")
    op.drop_table("invoice_line_payment_links")
    op.drop_index("uq_invoice_payment_links_external", table_name="invoice_payment_links")
    op.drop_index("ix_invoice_payment_links_due", table_name="invoice_payment_links")
    op.drop_table("invoice_payment_links")
