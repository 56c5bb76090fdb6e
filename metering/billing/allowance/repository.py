"""The reads of the allowance check, set-based and in plain SQL (no ORM objects): a few
indexed queries for one customer or a batch of a hundred."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.credits.models import CreditGrant, GrantStatus
from metering.catalog.customers.models import Customer
from metering.catalog.subscriptions.models import Subscription

CUSTOMERS: sa.Table = Customer.__table__  # type: ignore[attr-defined]
SUBSCRIPTIONS: sa.Table = Subscription.__table__  # type: ignore[attr-defined]
GRANTS: sa.Table = CreditGrant.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class CustomerTerms:
    """A customer's spend limit and the subscription in force now (None: no plan)."""

    customer_id: str
    spend_limit_amount: Decimal | None
    spend_limit_on_reach: str | None
    plan_version_id: str | None
    starts_at: datetime | None
    ends_at: datetime | None


def terms(
    session: Session, vendor_id: str, customer_ids: Collection[str], now: datetime
) -> dict[str, CustomerTerms]:
    """The vendor's customers among `customer_ids` (another vendor's are absent)."""
    c, s = CUSTOMERS.c, SUBSCRIPTIONS.c
    in_force = sa.and_(
        s.customer_id == c.id, s.starts_at <= now, sa.or_(s.ends_at.is_(None), s.ends_at > now)
    )
    statement = (
        sa.select(
            c.id,
            c.spend_limit_amount,
            c.spend_limit_on_reach,
            s.plan_version_id,
            s.starts_at,
            s.ends_at,
        )
        .select_from(CUSTOMERS.outerjoin(SUBSCRIPTIONS, in_force))
        .where(c.vendor_id == vendor_id, c.id.in_(sorted(set(customer_ids))))
    )
    return {row[0]: CustomerTerms(*row) for row in session.execute(statement)}


def usable_credit(
    session: Session, customer_ids: Collection[str], now: datetime
) -> dict[tuple[str, str], Decimal]:
    """The remaining amount of each customer's active grants usable now, by currency."""
    g = GRANTS.c
    statement = (
        sa.select(g.customer_id, g.currency, sa.func.sum(g.remaining))
        .where(
            g.customer_id.in_(sorted(set(customer_ids))),
            g.status == GrantStatus.ACTIVE.value,
            g.effective_at <= now,
            sa.or_(g.expires_at.is_(None), g.expires_at > now),
        )
        .group_by(g.customer_id, g.currency)
    )
    return {(row[0], row[1]): Decimal(row[2]) for row in session.execute(statement)}
