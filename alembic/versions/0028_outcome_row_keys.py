"""Outcome and reversal rows keep one foreign key, to their event.

Their vendor, customer and plan version are copies of their event's, which has foreign keys
to all three; the only writer of these rows (`metering.ledger.outcomes`) copies them from
the event it derives the rows from. Checking the three again on every row was about half
the cost of inserting an outcome row on PostgreSQL (a trigger and a locking lookup each).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns that lose their foreign key, by table, with the table each referred to.
DROPPED = {
    "outcomes": {
        "vendor_id": "vendors",
        "customer_id": "customers",
        "plan_version_id": "plan_versions",
    },
    "outcome_reversals": {"vendor_id": "vendors", "customer_id": "customers"},
}
# SQLite's foreign keys were made without names: batch mode names them by this convention.
NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def upgrade() -> None:
    bind = op.get_bind()
    for table, columns in DROPPED.items():
        if bind.dialect.name == "postgresql":
            for key in sa.inspect(bind).get_foreign_keys(table):
                if key["constrained_columns"] in ([column] for column in columns):
                    op.drop_constraint(key["name"], table, type_="foreignkey")
            continue
        with op.batch_alter_table(table, naming_convention=NAMES) as batch:
            for column, referred in columns.items():
                batch.drop_constraint(_name(table, column, referred), type_="foreignkey")


def downgrade() -> None:
    for table, columns in DROPPED.items():
        with op.batch_alter_table(table) as batch:
            for column, referred in columns.items():
                batch.create_foreign_key(_name(table, column, referred), referred, [column], ["id"])
