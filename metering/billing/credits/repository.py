"""Queries of credit grants and their ledger entries."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from metering.billing.credits.models import CreditEntry, CreditGrant, EntryKind, GrantStatus
from metering.billing.invoices.models import Invoice


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


def available_of(
    session: Session, customer_ids: Collection[str], now: datetime
) -> dict[str, dict[str, Decimal]]:
    """Customer id -> currency -> the balance usable at `now` (active grants in effect and
    not expired, as `service.balance_of` counts `available`), in one query (summed here:
    SQLite would add the amounts as floats)."""
    if not customer_ids:
        return {}
    g = CreditGrant.__table__.c  # type: ignore[attr-defined]
    statement = sa.select(g.customer_id, g.currency, g.remaining).where(
        g.customer_id.in_(sorted(customer_ids)),
        g.status == GrantStatus.ACTIVE.value,
        g.effective_at <= now,
        sa.or_(g.expires_at.is_(None), g.expires_at > now),
    )
    found: dict[str, dict[str, Decimal]] = {}
    for customer_id, currency, remaining in session.execute(statement):
        by_currency = found.setdefault(customer_id, {})
        by_currency[currency] = by_currency.get(currency, Decimal(0)) + remaining
    return dict(sorted(found.items()))


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


def stray_invoices(session: Session, customer_ids: Collection[str] = ()) -> list[tuple[str, str]]:
    """(entry id, invoice id) of the entries naming an invoice that does not exist or is
    another customer's: no foreign key checks an entry's invoice (migration 0027)."""
    e = CreditEntry.__table__.c  # type: ignore[attr-defined]
    invoices: sa.Table = Invoice.__table__  # type: ignore[attr-defined]
    invoice = invoices.c
    statement = (
        sa.select(e.id, e.invoice_id)
        .outerjoin(invoices, invoice.id == e.invoice_id)
        .where(
            e.invoice_id.is_not(None),
            sa.or_(invoice.id.is_(None), invoice.customer_id != e.customer_id),
        )
    )
    if customer_ids:
        statement = statement.where(e.customer_id.in_(sorted(customer_ids)))
    return [(entry_id, invoice_id) for entry_id, invoice_id in session.execute(statement)]
