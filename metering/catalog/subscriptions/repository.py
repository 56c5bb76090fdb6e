"""Queries of subscriptions: the terms in force for a batch's customers, a customer's list."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from metering.catalog.plans.compiled import PlanRef, versions_by_id
from metering.catalog.subscriptions.models import Subscription
from metering.platform.db import bulk

CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Term:
    """A subscription as ingestion sees it: when it holds and the compiled rules it uses."""

    subscription_id: str
    starts_at: datetime
    ends_at: datetime | None
    plan: PlanRef

    def covers(self, instant: datetime) -> bool:
        return self.starts_at <= instant and (self.ends_at is None or instant < self.ends_at)


def term_at(terms: Sequence[Term], instant: datetime) -> Term | None:
    """The term in force at `instant` (subscriptions of a customer never overlap)."""
    for term in terms:
        if term.covers(instant):
            return term
    return None


_TERMS = (
    "SELECT customer_id, id, plan_version_id, starts_at, ends_at FROM subscriptions "
    "WHERE customer_id = ANY(CAST(%s AS TEXT[]))"
)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def terms_of(session: Session, customer_ids: Collection[str]) -> dict[str, list[Term]]:
    """Every subscription of these customers with its compiled version, by customer id."""
    ids = sorted(set(customer_ids))
    rows: list[tuple[str, str, str, datetime, datetime | None]] = []
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(ids), CHUNK):
        if postgres:  # by psycopg itself: every ingested batch reads its customers' terms
            found = bulk.driver_rows(session, _TERMS, bulk.array_text(ids[start : start + CHUNK]))
            rows += [(c, i, v, _utc(s), None if e is None else _utc(e)) for c, i, v, s, e in found]
            continue
        statement = sa.select(
            col(Subscription.customer_id),
            col(Subscription.id),
            col(Subscription.plan_version_id),
            col(Subscription.starts_at),
            col(Subscription.ends_at),
        ).where(bulk.text_in(session, col(Subscription.customer_id), ids[start : start + CHUNK]))
        rows.extend(tuple(row) for row in session.execute(statement).all())
    plans = versions_by_id(session, {row[2] for row in rows})
    terms: dict[str, list[Term]] = {}
    for customer_id, sub_id, version_id, starts_at, ends_at in sorted(rows, key=lambda r: r[3]):
        terms.setdefault(customer_id, []).append(
            Term(sub_id, starts_at, ends_at, plans[version_id])
        )
    return terms


def of_customer(session: Session, customer_id: str) -> list[Subscription]:
    """A customer's subscriptions, oldest first."""
    statement = (
        select(Subscription)
        .where(Subscription.customer_id == customer_id)
        .order_by(col(Subscription.starts_at))
    )
    return list(session.exec(statement).all())


def of_customers(session: Session, customer_ids: Collection[str]) -> dict[str, list[Subscription]]:
    """The subscriptions of several customers (a page of them), oldest first."""
    found: dict[str, list[Subscription]] = {}
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), CHUNK):
        statement = (
            select(Subscription)
            .where(col(Subscription.customer_id).in_(ids[start : start + CHUNK]))
            .order_by(col(Subscription.starts_at))
        )
        for sub in session.exec(statement).all():
            found.setdefault(sub.customer_id, []).append(sub)
    return found
