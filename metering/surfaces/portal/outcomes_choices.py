"""What the outcome list's filter offers: the customer's outcome types and every billing
period it has outcomes or an invoice in, each labelled with what became of it (invoiced,
current, or ended and waiting for its close: the period about to be billed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.invoices.models import Invoice, InvoiceKind, InvoiceStatus
from metering.billing.invoices.periods import subscription_period
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.subscriptions.models import Subscription
from metering.catalog.subscriptions.service import in_force
from metering.ledger.outcomes.models import Outcome
from metering.surfaces.portal.line_words import outcome_name
from metering.surfaces.portal.outcomes import OutcomeView

OUTCOMES: sa.Table = Outcome.__table__  # type: ignore[attr-defined]
INVOICES: sa.Table = Invoice.__table__  # type: ignore[attr-defined]
TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Choices:
    """What the filter form offers: outcome types and billing periods (newest first)."""

    outcome_names: list[str]
    periods: list[tuple[datetime, datetime]]
    period_labels: dict[datetime, str] = field(default_factory=dict)
    display_names: dict[str, str] = field(default_factory=dict)
    """Outcome name -> its display name (`line_words.outcome_name`)."""
    """Period start -> what became of it: invoiced, current, or ended and not invoiced yet."""


MAX_PERIODS = 36
"""How far back the filter looks for periods with outcomes, per subscription."""


def subscription_periods(
    session: Session, subs: Sequence[Subscription], now: datetime
) -> dict[datetime, datetime]:
    """Period start -> end of every period of the customer's subscriptions up to now, newest
    first, at most `MAX_PERIODS` each (the periods are cut as the close cuts them)."""
    periods: dict[datetime, datetime] = {}
    for subscription in subs:
        rules = rules_of(session, subscription.plan_version_id)
        at = now if subscription.ends_at is None else min(now, subscription.ends_at - TICK)
        for _ in range(MAX_PERIODS):
            if at < subscription.starts_at:
                break
            period = subscription_period(subscription, rules, at)
            periods.setdefault(period.start, period.end)
            at = period.start - TICK
    return periods


def _has_outcomes(session: Session, customer_id: str, start: datetime, end: datetime) -> bool:
    """Whether the customer has an outcome in [start, end): one seek of its time index."""
    t = OUTCOMES.c
    found = session.execute(
        sa.select(t.id)
        .where(t.customer_id == customer_id, t.occurred_at >= start, t.occurred_at < end)
        .limit(1)
    ).first()
    return found is not None


def choices(session: Session, customer_id: str, now: datetime) -> Choices:
    """The customer's outcome types and every period it has outcomes or an invoice in, with
    the period in force now, each labelled (the one that ended and waits for its close too)."""
    subs = subscriptions.of_customer(session, customer_id)
    names: dict[str, str] = {}
    for subscription in subs:
        rules = rules_of(session, subscription.plan_version_id)
        for name in rules.outcomes:
            names.setdefault(name, outcome_name(rules, name))
    i = INVOICES.c
    invoiced = {
        start: (end, number)
        for start, end, number in session.execute(
            sa.select(i.period_start, i.period_end, i.number).where(
                i.customer_id == customer_id,
                i.kind == InvoiceKind.PERIOD.value,
                i.status != InvoiceStatus.DRAFT.value,
            )
        )
    }
    periods = {start: end for start, (end, _) in invoiced.items()}
    for start, end in subscription_periods(session, subs, now).items():
        if start not in periods and _has_outcomes(session, customer_id, start, end):
            periods[start] = end
    current = in_force(subs, now)
    if current is not None:
        period = subscription_period(current, rules_of(session, current.plan_version_id), now)
        periods.setdefault(period.start, period.end)
    labels = {}
    for start, end in periods.items():
        if start in invoiced:
            number = invoiced[start][1]
            labels[start] = f"invoice #{number}" if number is not None else "invoiced"
        elif end > now:
            labels[start] = "current"
        else:
            labels[start] = "ended, not invoiced yet"
    ordered = sorted(periods.items(), reverse=True)
    return Choices(sorted(names), ordered, labels, names)


def display_name(session: Session, row: OutcomeView) -> str:
    """An outcome row's display name under the plan version that made it."""
    return outcome_name(rules_of(session, row.plan_version_id), row.outcome)
