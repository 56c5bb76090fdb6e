"""Plans and their immutable rule-file versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import UTCDateTime, utcnow


class Plan(SQLModel, table=True):
    """A named plan (the rule file's `plan:` slug) of one vendor."""

    __tablename__ = "plans"
    __table_args__ = (sa.UniqueConstraint("vendor_id", "slug", name="uq_plans_vendor_slug"),)

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    slug: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class PlanVersion(SQLModel, table=True):
    """One uploaded rule file: the YAML text as sent and its parsed form; never updated."""

    __tablename__ = "plan_versions"
    __table_args__ = (
        sa.UniqueConstraint("plan_id", "version", name="uq_plan_versions_plan_version"),
    )

    id: str = Field(primary_key=True, max_length=40)
    plan_id: str = Field(foreign_key="plans.id", max_length=40)
    version: int
    yaml: str = Field(sa_type=sa.Text)
    parsed: dict[str, Any] = Field(sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # A customer's price book over `base_version_id` (`catalog/overrides`): the base's YAML
    # with `override_yaml` applied, numbered -1, -2, ... in the plan so the plan's own
    # numbers stay unique (its rules keep the base's number). None: an uploaded rule file.
    base_version_id: str | None = Field(default=None, max_length=40)
    override_yaml: str | None = Field(default=None, sa_type=sa.Text)

    @property
    def overridden(self) -> bool:
        return self.base_version_id is not None
