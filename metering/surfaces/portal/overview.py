"""What the overview page shows: the current period so far and the one before it.

The projected invoice is `metering.billing.invoices.service.upcoming`, the same call the API's
upcoming invoice makes (given the page's own rating of the period as of now, made in the same
pass as the rating once every pending outcome settles), so the page and the API can never
disagree. Around it the page adds
two reads of outcome rows: one GROUP BY for the counted outcomes per local day and the
reversed ones (day buckets are the plan timezone's midnights, so it means the same on SQLite
and PostgreSQL; on PostgreSQL it runs on a second connection while the period is rated), and
the next pending outcomes to settle, read from the recent rows only (states and pending:
`metering.ledger.states`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from metering.billing.invoices import service as invoices
from metering.billing.invoices.live import LiveRating, rate_live_at
from metering.billing.invoices.models import Invoice, InvoiceKind, InvoiceStatus
from metering.billing.invoices.periods import subscription_period
from metering.billing.invoices.prefetch import Beside
from metering.billing.invoices.schemas import UpcomingInvoice
from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.subscriptions.service import in_force
from metering.ledger import states
from metering.ledger.outcomes.models import Outcome
from metering.surfaces.portal.overview_money import (
    Projection,
    SameDays,
    last_settle,
    pending_count,
    project,
    same_days,
)
from pricing_rules.periods import Period, zone

NEXT_TO_SETTLE = 5
OUTCOMES: sa.Table = Outcome.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int


@dataclass(frozen=True)
class PreviousPeriod:
    """The period before the current one: its invoice when issued, else its rating now."""

    start: datetime
    end: datetime
    currency: str
    total: Decimal
    invoice: Invoice | None
    pending: int = 0
    """Its outcomes still pending now (0 once invoiced: the invoice is final)."""
    same_days: SameDays | None = None
    """Its first days rated alike, as many as the current period has had so far."""


@dataclass(frozen=True)
class Overview:
    upcoming: UpcomingInvoice
    timezone: str
    reversed: dict[str, int] = field(default_factory=dict)
    next_to_settle: list[Outcome] = field(default_factory=list)
    per_day: list[DayCount] = field(default_factory=list)
    previous: PreviousPeriod | None = None
    projection: Projection | None = None
    rated: LiveRating | None = None
    """The current period rated as of now (what the credits' projected draw prices)."""

    @property
    def total(self) -> Decimal:
        return Decimal(self.upcoming.total)

    @property
    def pending_count(self) -> int:
        return sum(p.count for p in self.upcoming.pending)

    @property
    def reversed_count(self) -> int:
        return sum(self.reversed.values())

    @property
    def outcome_count(self) -> int:
        return sum(d.count for d in self.per_day)

    @property
    def change(self) -> Decimal | None:
        """This period so far minus the previous period's same first days."""
        if self.previous is None or self.previous.same_days is None:
            return None
        return self.total - self.previous.same_days.total


def _period_outcomes(customer_id: str, period_start: datetime) -> Any:
    return (
        col(Outcome.customer_id) == customer_id,
        col(Outcome.period_start) == period_start,
    )


def next_to_settle(
    session: Session, customer_id: str, period_start: datetime, now: datetime, window: timedelta
) -> list[Outcome]:
    """The pending outcomes of the period that settle soonest.

    An outcome settles `window` (its `settle.after`) after it occurred, so only those that
    occurred within the window can be pending: the read stays on the recent rows.
    """
    statement = (
        select(Outcome)
        .where(*_period_outcomes(customer_id, period_start))
        .where(col(Outcome.occurred_at) > now - window, states.PENDING.sql(OUTCOMES.c, now))
        .order_by(col(Outcome.settles_at), col(Outcome.id))
        .limit(NEXT_TO_SETTLE)
    )
    return list(session.exec(statement).all())


def local_days(start: datetime, end: datetime, timezone: str) -> list[tuple[date, datetime]]:
    """Each local day touching [start, end) with the instant (UTC) that day ends."""
    tz = zone(timezone)
    day = start.astimezone(tz).date()
    days = []
    while True:
        next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
        days.append((day, next_midnight.astimezone(start.tzinfo)))
        if next_midnight >= end:
            return days
        day += timedelta(days=1)


def _day_bucket(session: Session, ends: list[datetime]) -> sa.ColumnElement[int]:
    """The index of the first day whose end is after the row's instant (the last day for
    any later row): PostgreSQL's `width_bucket` finds it by bisection (the number of ends
    at or before the instant); SQLite tests the days in turn (a CASE)."""
    occurred = col(Outcome.occurred_at)
    if session.get_bind().dialect.name == "postgresql":
        thresholds = sa.bindparam(
            "day_ends", ends, type_=postgresql.ARRAY(sa.DateTime(timezone=True))
        )
        return sa.func.least(sa.func.width_bucket(occurred, thresholds), len(ends) - 1)
    return sa.case(
        *[(occurred < end, index) for index, end in enumerate(ends)], else_=len(ends) - 1
    )


@dataclass(frozen=True)
class PeriodCounts:
    per_day: list[DayCount]
    reversed: dict[str, int]


class CountingPeriod:
    """Counted outcomes per local day up to `until`, and reversed ones by outcome name,
    counted beside the caller's own queries (`Beside`: PostgreSQL scans the period's rows for
    them while the caller rates the period).

    One GROUP BY over the period's rows; the day of a row is the bucket between two local
    midnights (`_day_bucket`), so both databases cut days alike.
    """

    def __init__(
        self, session: Session, customer_id: str, period: Period, until: datetime, timezone: str
    ) -> None:
        self._days = local_days(period.start, min(until, period.end), timezone)
        bucket = _day_bucket(session, [ends for _, ends in self._days]).label("bucket")
        t = OUTCOMES.c
        statement = (
            sa.select(bucket, t.outcome, t.state, sa.func.count())
            .where(*_period_outcomes(customer_id, period.start))
            .where(sa.or_(states.COUNTED.sql(t), states.REVERSED.sql(t)))
            .group_by(bucket, t.outcome, t.state)
        )
        self._rows = Beside(session, statement)

    def counts(self) -> PeriodCounts:
        counted: dict[int, int] = {}
        reversed_by: dict[str, int] = {}
        for row in self._rows.rows():
            index, name, _, count = row
            if states.COUNTED.holds(row):
                counted[int(index)] = counted.get(int(index), 0) + int(count)
            else:
                reversed_by[name] = reversed_by.get(name, 0) + int(count)
        per_day = [
            DayCount(day, counted.get(index, 0)) for index, (day, _) in enumerate(self._days)
        ]
        return PeriodCounts(per_day=per_day, reversed=dict(sorted(reversed_by.items())))


def previous_period(
    session: Session, customer: Customer, current_start: datetime, now: datetime
) -> PreviousPeriod | None:
    """The period ending where the current one starts, if the customer had a plan then."""
    instant = current_start - timedelta(microseconds=1)
    subscription = in_force(subscriptions.of_customer(session, customer.id), instant)
    if subscription is None:
        return None
    rules = rules_of(session, subscription.plan_version_id)
    period = subscription_period(subscription, rules, instant)
    invoice = session.exec(
        select(Invoice).where(
            Invoice.customer_id == customer.id,
            Invoice.period_start == period.start,
            Invoice.kind == InvoiceKind.PERIOD.value,
            col(Invoice.status) != InvoiceStatus.DRAFT.value,
        )
    ).first()
    alike, rated = same_days(session, rules, customer.id, period, current_start, now)
    if invoice is not None:
        return PreviousPeriod(
            period.start, period.end, invoice.currency, invoice.total, invoice, 0, alike
        )
    return PreviousPeriod(
        period.start, period.end, rules.currency, rated.total, None, pending_count(rated), alike
    )


def build(session: Session, customer: Customer, now: datetime) -> Overview:
    """The overview of `customer` at `now` (a ProblemError 404 when it has no plan now).

    The current period is rated once for two instants, now and when its last pending row
    settles (`rate_live_at`): the upcoming invoice and the projection share that pass."""
    subscription = invoices.subscription_in_force(session, customer, now)
    rules = rules_of(session, subscription.plan_version_id)
    period = subscription_period(subscription, rules, now)
    timezone = rules.billing.timezone
    window = max((spec.settle.after for spec in rules.outcomes.values()), default=timedelta(0))
    counting = CountingPeriod(session, customer.id, period, now, timezone)
    settles = last_settle(session, customer.id, period.start, now, window)
    instants = [now] if settles is None else [now, max(settles, now)]
    rated = [r[customer.id] for r in rate_live_at(session, rules, [customer.id], period, instants)]
    upcoming, *settled = invoices.upcoming_at(
        session, customer, subscription, rules, period, list(zip(instants, rated, strict=True))
    )
    if_settled = settled[0] if settled else None
    counts = counting.counts()
    return Overview(
        upcoming=upcoming,
        timezone=timezone,
        reversed=counts.reversed,
        next_to_settle=next_to_settle(session, customer.id, period.start, now, window),
        per_day=counts.per_day,
        previous=previous_period(session, customer, period.start, now),
        projection=project(upcoming, if_settled),
        rated=rated[0],
    )
