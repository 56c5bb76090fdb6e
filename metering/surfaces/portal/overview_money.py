"""What the customer will pay: the projection if every pending outcome settles, what each
outcome's pending rows are worth, and the previous period compared like for like.

Every figure is the live rating (`metering.billing.invoices.live.rate_live_at`, the close's own
steps) as of a chosen instant, so none can disagree with the invoice that follows; a period's
instants are rated together, in one aggregate over its rows:

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

from metering.billing.invoices.live import LiveRating, rate_live_at
from metering.billing.invoices.schemas import UpcomingInvoice
from metering.ledger import states
from metering.ledger.outcomes.models import Outcome
from pricing_rules.periods import Period
from pricing_rules.rules import RuleFile

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


def project(upcoming: UpcomingInvoice, if_settled: UpcomingInvoice | None) -> Projection:
    """The upcoming invoice's total now and if every pending outcome settles: `if_settled` is
    the upcoming invoice as of the instant the period's last pending row settles
    (`last_settle`; None: nothing is pending), so corrections, an interim invoice already
    issued and the credits it would draw count as in the invoice itself."""
    now_total = Decimal(upcoming.total)
    if if_settled is None:
        return Projection(now_total, now_total)
    before = _by_outcome((line.outcome, Decimal(line.amount)) for line in upcoming.lines)
    after = _by_outcome((line.outcome, Decimal(line.amount)) for line in if_settled.lines)
    pending = {
        p.outcome: after.get(p.outcome, ZERO) - before.get(p.outcome, ZERO)
        for p in upcoming.pending
    }
    return Projection(now_total, Decimal(if_settled.total), pending)


@dataclass(frozen=True)
class SameDays:
    """The previous period rated as of the same time into it as now is into the current one."""

    total: Decimal
    until: datetime
    days: int


def same_days(
    session: Session,
    rules: RuleFile,
    customer_id: str,
    previous: Period,
    current_start: datetime,
    now: datetime,
) -> tuple[SameDays, LiveRating]:
    """The previous period like for like, and rated as of `now` (its whole so far), from one
    pass over its rows."""
    elapsed = now - current_start
    until = min(previous.start + elapsed, previous.end)
    alike, whole = (
        rated[customer_id]
        for rated in rate_live_at(session, rules, [customer_id], previous, [until, now])
    )
    days = max(1, round(elapsed.total_seconds() / 86400))
    return SameDays(alike.total, until, days), whole


def pending_count(rating: LiveRating) -> int:
    return sum(tally.pending for tally in rating.tallies.values())
