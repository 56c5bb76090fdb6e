"""Queries of credit grants and their ledger entries."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from metering.billing.credits.models import CreditEntry, CreditGrant, EntryKind, GrantStatus


def get(session: Session, vendor_id: str, grant_id: str) -> CreditGrant | None:
    grant = session.get(CreditGrant, grant_id)
    return grant if grant is not None and grant.vendor_id == vendor_id else None


def grants_of(customer_id: str, status: str | None = None) -> SelectOfScalar[CreditGrant]:
    statement = select(CreditGrant).where(CreditGrant.customer_id == customer_id)
    if status is not None:
        statement = statement.where(CreditGrant.status == status)
    return statement


def entries_of(customer_id: str, grant_id: str | None = None) -> SelectOfScalar[CreditEntry]:
    statement = select(CreditEntry).where(CreditEntry.customer_id == customer_id)
    if grant_id is not None:
        statement = statement.where(CreditEntry.grant_id == grant_id)
    return statement


def active_grants(session: Session, customer_id: str) -> list[CreditGrant]:
    return list(
        session.exec(grants_of(customer_id, GrantStatus.ACTIVE.value).order_by(col(CreditGrant.id)))
    )


def paid_by_grants(
    session: Session, customer_ids: Collection[str], period_starts: Collection[datetime]
) -> dict[tuple[str, datetime], dict[str, Decimal]]:
    """What each grant paid, net of restores, for each (customer, period start): positive."""
    e = CreditEntry.__table__.c  # type: ignore[attr-defined]
    found: dict[tuple[str, datetime], dict[str, Decimal]] = {}
    if not customer_ids or not period_starts:
        return found
    statement = sa.select(e.customer_id, e.period_start, e.grant_id, e.amount).where(
        e.customer_id.in_(sorted(customer_ids)),
        e.period_start.in_(sorted(period_starts)),
        e.kind.in_([EntryKind.DRAWDOWN.value, EntryKind.RESTORE.value]),
    )
    for customer_id, start, grant_id, amount in session.execute(statement):
        paid = found.setdefault((customer_id, start), {})
        paid[grant_id] = paid.get(grant_id, Decimal(0)) - amount
    return found
