"""Where a period stands in its commitment term, read from outcome rows.

The term starts with the customer's first subscription to the plan (plan-version changes
inside it keep the term going) and runs in whole billing periods. A period's position is
what the term used before it, billable as of the close's instant: the same instant the
close and the corrections of earlier periods use, so a period corrected in this close and
the periods after it in the term agree to the unit. Inside the period, the crossing is
found in timestamp order.

An amount commitment adds up spend instead of units: each earlier period of the term is
priced again from its rows billable as of the same instant, with the rules of the plan
version it was billed under (its subtotal: charges, minimum, cap), so a late event or a
plan change moves the crossing exactly as it moves the periods' prices. Its lines name
their rows like a units commitment's: the period's rows of priced outcomes, in timestamp
order, split where the term's spend crosses the amount (`spend_split`: the outcome whose
price straddles it is on the committed and the overage line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col

from metering.billing.invoices.models import Invoice, InvoiceKind, InvoiceStatus
from metering.billing.invoices.rating import CommitmentIds
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions.models import Subscription
from metering.ledger import states
from metering.ledger.outcomes.models import Outcome
from metering.platform.db.types import exact_decimal
from pricing_rules.commitments import (
    Commitment,
    Position,
    Term,
    crossing_split,
    spend_split,
    term_containing,
)
from pricing_rules.measures import Count
from pricing_rules.pricing import price_usage
from pricing_rules.rules import RuleFile

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PeriodPosition:
    """A period's position in its term and the rows on each side of the crossing."""

    term: Term
    position: Position
    ids: CommitmentIds = field(default_factory=dict)


def term_anchor(session: Session, customer_id: str, plan_id: str) -> datetime | None:
    """When the customer's first subscription to the plan started (any of its versions)."""
    s = Subscription
    first: datetime | None = session.execute(
        sa.select(sa.func.min(col(s.starts_at))).where(
            col(s.customer_id) == customer_id, col(s.plan_id) == plan_id
        )
    ).scalar_one_or_none()
    return first


def positions_of(
    session: Session,
    rules: RuleFile,
    customer_ids: Sequence[str],
    period: tuple[datetime, datetime],
    as_of: datetime,
) -> dict[str, PeriodPosition]:
    """The period's position of each customer whose subscription at the period's start is
    on a plan with this commitment (live figures: the upcoming invoice, the portal)."""
    if rules.commitment is None or not customer_ids:
        return {}
    s = Subscription
    rows = session.execute(
        sa.select(col(s.customer_id), col(s.plan_id)).where(
            col(s.customer_id).in_(sorted(customer_ids)),
            col(s.starts_at) <= period[0],
            sa.or_(col(s.ends_at).is_(None), col(s.ends_at) > period[0]),
        )
    ).all()
    found = {}
    for customer_id, plan_id in rows:
        position = period_position(
            session, rules, customer_id, plan_id, period, as_of, with_ids=False
        )
        if position is not None:
            found[customer_id] = position
    return found


def term_of(
    session: Session, rules: RuleFile, customer_id: str, plan_id: str, instant: datetime
) -> Term | None:
    """The commitment term containing `instant` (None: no commitment, no subscription)."""
    commitment = rules.commitment
    if commitment is None:
        return None
    periods = commitment.periods_per_term(rules.billing.interval)
    anchor = term_anchor(session, customer_id, plan_id)
    if periods is None or anchor is None:
        return None
    return term_containing(anchor, instant, rules.billing.interval, rules.billing.timezone, periods)


def _units(commitment: Commitment, rules: RuleFile, value: object) -> Decimal:
    if isinstance(rules.outcomes[commitment.outcome].measure, Count):
        return Decimal(1)
    return ZERO if value is None else exact_decimal(value)


def spent_between(
    session: Session,
    customer_id: str,
    plan_id: str,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> Decimal:
    """The customer's spend at the plan's prices (each period's subtotal: charges, minimum,
    cap) in its periods of the plan starting in [start, end), from the rows billable as of
    `as_of`, each period with the rules of the plan version in force at its start."""
    from metering.billing.invoices.corrections import current_rows, usage_of_rows

    t = Outcome.__table__.c  # type: ignore[attr-defined]
    starts = set(
        session.execute(
            sa.select(t.period_start)
            .where(t.customer_id == customer_id, t.period_start >= start, t.period_start < end)
            .distinct()
        ).scalars()
    )
    i = Invoice
    starts.update(
        session.execute(
            sa.select(col(i.period_start)).where(
                col(i.customer_id) == customer_id,
                col(i.kind) == InvoiceKind.PERIOD.value,
                col(i.status) != InvoiceStatus.VOID.value,
                col(i.period_start) >= start,
                col(i.period_start) < end,
            )
        ).scalars()
    )
    s = Subscription
    subscribed = session.execute(
        sa.select(col(s.starts_at), col(s.ends_at), col(s.plan_version_id)).where(
            col(s.customer_id) == customer_id, col(s.plan_id) == plan_id
        )
    ).all()
    spent = ZERO
    for period_start in sorted(starts):
        version = next(
            (v for a, e, v in subscribed if a <= period_start and (e is None or e > period_start)),
            None,
        )
        if version is None:
            continue
        rules = rules_of(session, version)
        rows, _ = current_rows(session, customer_id, period_start, as_of)
        spent += price_usage(rules, usage_of_rows(rules, rows)).subtotal
    return spent


def _spend_ids(
    session: Session,
    rules: RuleFile,
    customer_id: str,
    period_start: datetime,
    as_of: datetime,
    remaining: Decimal,
) -> CommitmentIds:
    """The rows of an amount commitment's committed and overage lines: the period's rows
    billable as of `as_of` of the outcomes its charges price, in timestamp order, split
    where the period's spend passes what the term has `remaining`."""
    from metering.billing.invoices.corrections import current_rows, usage_of_rows

    priced = {charge.priced_outcome for charge in rules.charges}
    found, _ = current_rows(session, customer_id, period_start, as_of)
    rows = sorted((r for r in found if r.outcome in priced), key=lambda r: (r.occurred_at, r.id))
    under, over = spend_split(
        lambda k: price_usage(rules, usage_of_rows(rules, rows[:k])).subtotal,
        len(rows),
        remaining,
    )
    ids = tuple(row.id for row in rows)
    return {"commitment:committed": ids[:under], "commitment:overage": ids[over:]}


def used_between(
    session: Session,
    rules: RuleFile,
    customer_id: str,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> Decimal:
    """Units of the committed outcome billable as of `as_of` in periods starting in
    [start, end)."""
    commitment = rules.commitment
    assert commitment is not None
    t = Outcome.__table__.c  # type: ignore[attr-defined]
    where = sa.and_(
        t.customer_id == customer_id,
        t.outcome == commitment.outcome,
        t.period_start >= start,
        t.period_start < end,
        states.BILLABLE.sql(t, as_of),
    )
    if isinstance(rules.outcomes[commitment.outcome].measure, Count):
        count = session.execute(sa.select(sa.func.count()).where(where)).scalar_one()
        return Decimal(count)
    values = session.execute(
        sa.select(sa.type_coerce(t.value, sa.types.NullType())).where(where)
    ).scalars()
    return sum((_units(commitment, rules, value) for value in values), ZERO)


def _period_units(
    session: Session, rules: RuleFile, customer_id: str, period_start: datetime, as_of: datetime
) -> list[tuple[int, Decimal]]:
    """(row id, units) of the period's billable committed outcomes, in timestamp order."""
    commitment = rules.commitment
    assert commitment is not None
    t = Outcome.__table__.c  # type: ignore[attr-defined]
    rows = session.execute(
        sa.select(t.id, sa.type_coerce(t.value, sa.types.NullType()))
        .where(
            t.customer_id == customer_id,
            t.outcome == commitment.outcome,
            t.period_start == period_start,
            states.BILLABLE.sql(t, as_of),
        )
        .order_by(t.occurred_at, t.id)
    ).all()
    return [(row_id, _units(commitment, rules, value)) for row_id, value in rows]


def period_position(
    session: Session,
    rules: RuleFile,
    customer_id: str,
    plan_id: str,
    period: tuple[datetime, datetime],
    as_of: datetime,
    with_ids: bool = True,
) -> PeriodPosition | None:
    """The position of the customer's period [start, end) as of `as_of` (None: the plan
    has no commitment), with the rows of each side of the crossing unless `with_ids` is
    False (live figures and corrections show no rows of their own)."""
    commitment = rules.commitment
    start, end = period
    term = term_of(session, rules, customer_id, plan_id, start)
    if commitment is None or term is None:
        return None
    if commitment.by_amount:
        spent = spent_between(session, customer_id, plan_id, term.start, start, as_of)
        position = Position(used_before=spent, ends_term=end >= term.end)
        if not with_ids:
            return PeriodPosition(term, position)
        remaining = max(commitment.committed_units - spent, ZERO)
        ids = _spend_ids(session, rules, customer_id, start, as_of, remaining)
        return PeriodPosition(term, position, ids)
    used = used_between(session, rules, customer_id, term.start, start, as_of)
    position = Position(used_before=used, ends_term=end >= term.end)
    if not with_ids:
        return PeriodPosition(term, position)
    units = _period_units(session, rules, customer_id, start, as_of)
    under, over = crossing_split(max(commitment.committed_units - used, ZERO), units)
    return PeriodPosition(
        term,
        position,
        {"commitment:committed": tuple(under), "commitment:overage": tuple(over)},
    )
