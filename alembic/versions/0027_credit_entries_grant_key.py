"""A credit entry's checks: one foreign key to its grant, none to its invoice.

A close draws from thousands of grants, and each foreign key is a check per entry written:

- the entry's three keys to `vendors`, `customers` and `credit_grants` become one composite
  key (grant_id, customer_id, vendor_id) -> credit_grants (id, customer_id, vendor_id),
  unique there. Nothing is lost: the grant's own keys check its customer and vendor, and
  the entry's customer and vendor must now be its grant's (before, each only had to exist);
- the key to `invoices` goes. `credits.ledger.record`, the only writer of entries, takes
  the invoice from the transaction that wrote it (a close) or moved it (a void giving
  credits back, a paid purchase activating its grant), and invoices are never deleted;
  `ledger.invariant_violations`, which the tests check after every scenario, reports an
  entry naming an invoice that does not exist or is another customer's.

Grants' pages keep room for the new version of a row (PostgreSQL `fillfactor`), so the
close's update of their balances stays on the page and leaves the indexes alone.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
OWNER = ["grant_id", "customer_id", "vendor_id"]
GRANT_OWNER = ["id", "customer_id", "vendor_id"]
SEPARATE = {
    "vendor_id": "vendors.id",
    "customer_id": "customers.id",
    "grant_id": "credit_grants.id",
    "invoice_id": "invoices.id",
}


def _entries(separate_keys: bool) -> sa.Table:
    """`credit_entries` as it stands (for SQLite's rebuild): with its four separate keys
    (as 0014 made it) or without them."""

    def key(name: str) -> list[sa.ForeignKey]:
        return [sa.ForeignKey(SEPARATE[name])] if separate_keys else []

    return sa.Table(
        "credit_entries",
        sa.MetaData(),
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("vendor_id", sa.String(40), *key("vendor_id"), nullable=False),
        sa.Column("customer_id", sa.String(40), *key("customer_id"), nullable=False),
        sa.Column("grant_id", sa.String(40), *key("grant_id"), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("amount", sa.Numeric(38, 12), nullable=False),
        sa.Column("invoice_id", sa.String(40), *key("invoice_id"), nullable=True),
        sa.Column("period_start", TS, nullable=True),
        sa.Column("period_end", TS, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Index("ix_credit_entries_customer", "customer_id", "id"),
        sa.Index("ix_credit_entries_grant", "grant_id"),
    )


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_index("uq_credit_grants_owner", "credit_grants", GRANT_OWNER, unique=True)
    if _postgres():
        for column in SEPARATE:
            op.drop_constraint(f"credit_entries_{column}_fkey", "credit_entries", "foreignkey")
        op.create_foreign_key(
            "fk_credit_entries_grant", "credit_entries", "credit_grants", OWNER, GRANT_OWNER
        )
        op.execute("ALTER TABLE credit_grants SET (fillfactor = 50)")
        return
    # SQLite cannot drop a foreign key: the table is rebuilt (nothing references it).
    with op.batch_alter_table(
        "credit_entries", recreate="always", copy_from=_entries(separate_keys=False)
    ) as batch:
        batch.create_foreign_key("fk_credit_entries_grant", "credit_grants", OWNER, GRANT_OWNER)


def downgrade() -> None:
    if _postgres():
        op.execute("ALTER TABLE credit_grants RESET (fillfactor)")
        op.drop_constraint("fk_credit_entries_grant", "credit_entries", "foreignkey")
        for column, target in SEPARATE.items():
            table, remote = target.split(".")
            op.create_foreign_key(
                f"credit_entries_{column}_fkey", "credit_entries", table, [column], [remote]
            )
    else:
        with op.batch_alter_table(
            "credit_entries", recreate="always", copy_from=_entries(separate_keys=True)
        ):
            pass
    op.drop_index("uq_credit_grants_owner", "credit_grants")
