"""Reads of a simulation: the plan's subscribers and their stored events, streamed.

Events come per batch of customers, ordered by customer then time, through a server-side
cursor (`yield_per`), so memory holds one page of rows, never the range.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from metering.catalog.customers.models import Customer
from metering.catalog.plans.models import Plan, PlanVersion
from metering.catalog.subscriptions.models import Subscription
from metering.ledger.disputes import repository as disputes
from metering.ledger.eventlog.clickhouse import ClickHouseLog
from metering.ledger.events.models import EventVoid, StoredEvent
from pricing_rules.events import Event

PAGE_ROWS = 5000


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: str
    external_id: str
    spend_limit_amount: Decimal | None = None
    spend_limit_on_reach: str | None = None


CreditedKey = tuple[str, datetime, str]  # outcome, period start, dedupe key
Credits = dict[CreditedKey, datetime]
"""The keys the vendor credited by accepting a dispute, with when it accepted."""


def credited_keys(session: Session, customer_ids: Sequence[str]) -> dict[str, Credits]:
    """Per customer, the keys the vendor credited and when."""
    found: dict[str, Credits] = {}
    credits = disputes.credits_of(session, customer_ids)
    for (customer_id, outcome, period_start, key), accepted in credits.items():
        found.setdefault(customer_id, {})[(outcome, period_start, key)] = accepted
    return found


def version_ids(session: Session, plan_id: str) -> set[str]:
    statement = sa.select(col(PlanVersion.id)).where(col(PlanVersion.plan_id) == plan_id)
    return set(session.execute(statement).scalars())


def subscribers(session: Session, plan_id: str, start: datetime, end: datetime) -> list[Subscriber]:
    """Customers with a subscription to the plan overlapping [start, end), by id."""
    s, c = Subscription, Customer
    statement = (
        sa.select(
            col(c.id), col(c.external_id), col(c.spend_limit_amount), col(c.spend_limit_on_reach)
        )
        .where(
            col(c.id).in_(
                sa.select(col(s.customer_id)).where(
                    col(s.plan_id) == plan_id,
                    col(s.starts_at) < end,
                    sa.or_(col(s.ends_at).is_(None), col(s.ends_at) > start),
                )
            )
        )
        .order_by(col(c.id))
    )
    return [Subscriber(*row) for row in session.execute(statement)]


def stream_events(
    session: Session,
    vendor_id: str,
    customer_ids: Sequence[str],
    since: datetime,
    until: datetime,
) -> Iterator[tuple[str, Event, datetime | None]]:
    """(customer id, event, when it was voided or None) of the customers' events in
    [since, until], ordered by customer id then time. Voided events come too: a period
    priced as of an instant before the void counts them, as its close did."""
    e = StoredEvent
    statement = (
        sa.select(
            col(e.customer_id),
            col(e.event_id),
            col(e.type),
            col(e.customer_external_id),
            col(e.occurred_at),
            col(e.properties),
            col(e.cost),
            col(EventVoid.voided_at),
        )
        .select_from(e)
        .outerjoin(EventVoid, col(EventVoid.event_pk) == col(e.pk))
        .where(
            col(e.vendor_id) == vendor_id,
            col(e.customer_id).in_(sorted(customer_ids)),
            col(e.occurred_at) >= since,
            col(e.occurred_at) <= until,
        )
        .order_by(col(e.customer_id), col(e.occurred_at))
        .execution_options(yield_per=PAGE_ROWS)
    )
    for row in session.execute(statement):
        customer_id, event_id, kind, external_id, occurred_at, properties, cost, voided = row
        event = Event(event_id, kind, external_id, occurred_at, properties or {}, cost)
        yield customer_id, event, voided


Streamed = tuple[Event, datetime | None]
"""An event and when it was voided (None: not voided)."""


class LogOnly:
    """A vendor's events only its event log holds (cost-only ones, which a proposed rule
    file may count), merged by time into each customer's events from the SQL store; nothing
    for a vendor without the event log."""

    def __init__(
        self, log: ClickHouseLog | None, vendor_id: str, since: datetime, until: datetime
    ) -> None:
        self._log, self._vendor_id, self._since, self._until = log, vendor_id, since, until

    def of(self, customer_id: str, stored: Iterable[Streamed]) -> Iterable[Streamed]:
        if self._log is None:
            return stored
        records = self._log.log_only(self._vendor_id, customer_id, self._since, self._until)
        logged = ((record.event(), record.voided_at) for record in records)
        return heapq.merge(stored, logged, key=lambda item: item[0].timestamp)


def plans_matching(session: Session, ref: str, vendor_id: str | None) -> list[Plan]:
    """Plans whose id or slug is `ref`, of one vendor or of any (for the CLI)."""
    statement = select(Plan).where(sa.or_(col(Plan.id) == ref, col(Plan.slug) == ref))
    if vendor_id is not None:
        statement = statement.where(col(Plan.vendor_id) == vendor_id)
    return list(session.exec(statement.order_by(col(Plan.id))).all())


def plans_of_vendor(session: Session, vendor_id: str) -> list[Plan]:
    statement = select(Plan).where(col(Plan.vendor_id) == vendor_id).order_by(col(Plan.slug))
    return list(session.exec(statement).all())
