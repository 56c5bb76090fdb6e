"""Portal sessions (single-use links and the cookie sessions they open) and the signing key."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import UTCDateTime, utcnow


class PortalSession(SQLModel, table=True):
    """A link made for one customer: opened once (`used_at`), ended by logout (`ended_at`).

    Only the SHA-256 of the link's token is stored, so a database read does not give
    anyone a working link.
    """

    __tablename__ = "portal_sessions"
    __table_args__ = (
        sa.Index("uq_portal_sessions_token_hash", "token_hash", unique=True),
        sa.Index("ix_portal_sessions_customer", "customer_id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    token_hash: str = Field(max_length=64)
    return_url: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class PortalKey(SQLModel, table=True):
    """The cookie signing key made on first use when no METERING_PORTAL_SECRET_KEY is set.

    One row (`id` = "portal"), so every process serving the portal signs alike.
    """

    __tablename__ = "portal_keys"

    id: str = Field(primary_key=True, max_length=40)
    secret: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
