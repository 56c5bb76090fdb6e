"""What the customer will pay: the projection if every pending outcome settles, what each
outcome's pending rows are worth, and the previous period compared like for like.

Every figure is the live rating (`metering.billing.invoices.live.rate_live`, the close's own
steps) as of a chosen instant, so none can disagree with the invoice that follows:

- "if every pending outcome settles" rates the current period as of the instant its last
  pending row settles: every row counted now is then settled, nothing else changes;
- a pending outcome's value is what its lines add between those two ratings;
- the previous period "like for like" is rated as of the same time into it as now is into
  the current period (the same number of days), beside its whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.invoices.live import LiveRating, rate_live
from metering.billing.invoices.schemas import UpcomingInvoice
from metering.catalog.plans.compiled import rules_of
from metering.ledger import states
from metering.ledger.outcomes.models import Outcome
from pricing_rules.periods import Period

ZERO = Decimal(0)
OUTCOMES: sa.Table = Outcome.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Projection:
    """The current period now and once every pending row settles."""

    now: Decimal
    if_settled: Decimal
    pending_value: dict[str, Decimal] = field(default_factory=dict)
    """Outcome name -> what its pending rows add to the invoice once they settle."""

    @property
    def pending_total(self) -> Decimal:
        return self.if_settled - self.now


def last_settle(
    session: Session, customer_id: str, period_start: datetime, now: datetime, window: timedelta
) -> datetime | None:
    """When the period's last pending row settles (None: none is pending). A row settles
    `window` (the longest `settle.after`) after it occurred at the latest, so only the rows
    that occurred within it are read."""
    t = OUTCOMES.c
    found: datetime | None = session.execute(
        sa.select(sa.func.max(t.settles_at)).where(
            t.customer_id == customer_id,
            t.occurred_at > now - window,
            t.period_start == period_start,
            states.PENDING.sql(t, now),
        )
    ).scalar_one()
    return found


def _by_outcome(lines: Iterable[tuple[str | None, Decimal]]) -> dict[str, Decimal]:
    amounts: dict[str, Decimal] = {}
    for outcome, amount in lines:
        if outcome is not None:
            amounts[outcome] = amounts.get(outcome, ZERO) + amount
    return amounts


def project(
    session: Session,
    customer_id: str,
    upcoming: UpcomingInvoice,
    period: Period,
    now: datetime,
    window: timedelta,
) -> Projection:
    """The upcoming invoice's total now and if every pending outcome settles (corrections of
    earlier periods included in both, as the upcoming invoice includes them): one more
    rating, as of the instant the last pending row settles."""
    now_total = Decimal(upcoming.total)
    settles = last_settle(session, customer_id, period.start, now, window)
    if settles is None:
        return Projection(now_total, now_total)
    rules = rules_of(session, upcoming.plan_version_id)
    settled = rate_live(session, rules, [customer_id], period, max(settles, now))[customer_id]
    before = _by_outcome((line.outcome, Decimal(line.amount)) for line in upcoming.lines)
    after = _by_outcome((line.outcome, line.amount) for line in settled.lines)
    pending = {
        p.outcome: after.get(p.outcome, ZERO) - before.get(p.outcome, ZERO)
        for p in upcoming.pending
    }
    charged = sum((Decimal(line.amount) for line in upcoming.lines), ZERO)
    return Projection(now_total, now_total + settled.total - charged, pending)


@dataclass(frozen=True)
class SameDays:
    """The previous period rated as of the same time into it as now is into the current one."""

    total: Decimal
    until: datetime
    days: int


def same_days(
    session: Session,
    customer_id: str,
    plan_version_id: str,
    previous: Period,
    current_start: datetime,
    now: datetime,
) -> SameDays:
    elapsed = now - current_start
    until = min(previous.start + elapsed, previous.end)
    rules = rules_of(session, plan_version_id)
    rated = rate_live(session, rules, [customer_id], previous, until)[customer_id]
    days = max(1, round(elapsed.total_seconds() / 86400))
    return SameDays(rated.total, until, days)


def pending_count(rating: LiveRating) -> int:
    return sum(tally.pending for tally in rating.tallies.values())
