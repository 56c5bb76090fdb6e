"""Per-customer price books: override documents, and the plan versions they make.

An override is stored as written (`customer_overrides`, numbered per customer, never
updated). Applying it makes a plan version of its own: the base version's YAML with the
override's, `base_version_id` naming the base. Such a version is numbered -1, -2, ... in
its plan, so the plan's own numbers stay unique and no table is rebuilt (SQLite would
rebuild `plan_versions`, which other tables reference); its rules keep the base's number.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("plan_versions", sa.Column("base_version_id", sa.String(40), nullable=True))
    op.add_column("plan_versions", sa.Column("override_yaml", sa.Text(), nullable=True))
    op.create_table(
        "customer_overrides",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("vendor_id", sa.String(40), sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("customer_id", sa.String(40), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column(
            "base_version_id", sa.String(40), sa.ForeignKey("plan_versions.id"), nullable=False
        ),
        sa.Column(
            "plan_version_id", sa.String(40), sa.ForeignKey("plan_versions.id"), nullable=False
        ),
        sa.Column("effective", sa.String(20), nullable=False),
        sa.Column("effective_from", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("customer_id", "version", name="uq_customer_overrides_version"),
    )


def downgrade() -> None:
    op.drop_table("customer_overrides")
    with op.batch_alter_table("plan_versions") as batch:
        batch.drop_column("override_yaml")
        batch.drop_column("base_version_id")
