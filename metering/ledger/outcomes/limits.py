"""Block limits on stored rows: after the keys resolve, a period's counted rows past a limit
become `over_limit`, and `over_limit` rows back under it are counted again.

The decision is the pure core's (`pricing_rules.limits.over_limit`) over every would-be
counted row of the (customer, period): counted and over_limit rows, in timestamp order.
Most writes never get there: when the period has no over_limit row and its running tally
(`metering.ledger.tallies`, already updated in this transaction) stays within every limit,
nothing can be over.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session, col, select

from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import versions_by_id
from metering.ledger import states
from metering.ledger.outcomes.models import Outcome
from metering.ledger.outcomes.repository import Key
from metering.ledger.states import OutcomeState
from metering.ledger.tallies import repository as tallies
from metering.platform.db import bulk
from pricing_rules import limits
from pricing_rules.pricing import MeasuredUsage
from pricing_rules.rules import RuleFile

_CHUNK = 500
PeriodRef = tuple[str, datetime, str]
"""customer id, period start, plan version id (of a row written in it)."""


def spend_limit(amount: Decimal | None, on_reach: str | None) -> limits.MoneyLimit | None:
    """A customer's own spend limit (its `spend_limit_*` columns), as the core reads it."""
    if amount is None:
        return None
    return limits.MoneyLimit(
        amount,
        on_reach or "block",  # type: ignore[arg-type]
        80,
        "customer_spend_limit",
    )


def customer_spend_limit(customer: Customer | None) -> limits.MoneyLimit | None:
    if customer is None:
        return None
    return spend_limit(customer.spend_limit_amount, customer.spend_limit_on_reach)


@dataclass(slots=True)
class LimitChanges:
    """What the limits decided: rows to take out (`over`), keys to resolve again (rows back
    under the limit, which the key resolution counts with their span), events to refresh."""

    over: list[Outcome] = field(default_factory=list)
    readmit: set[Key] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.over or self.readmit)


def _within(
    rules: RuleFile,
    customer_id: str,
    period_start: datetime,
    amount: Decimal | None,
    session: Session,
) -> bool:
    """The tally's fast answer: no over_limit row and every total within its limit."""
    if limits.needs_values(rules) and amount is not None:
        return False
    found = tallies.period_tallies(session, [customer_id], period_start, period_start)
    if any(t.over_limit_rows for t in found.values()):
        return False
    units = {outcome: t for (_, outcome), t in found.items()}
    for outcome, cap in limits.unit_limits(rules).items():
        tally = units.get(outcome)
        if tally is not None and _quantity(rules, outcome, tally) > cap:
            return False
    if amount is None:
        return True
    usage = {
        outcome: MeasuredUsage(_quantity(rules, outcome, tally), tally.rows)
        for outcome, tally in units.items()
    }
    return limits.spend(rules, usage) <= amount


def _quantity(rules: RuleFile, outcome: str, tally: tallies.PeriodTally) -> Decimal:
    return tally.units if limits.sums(rules, outcome) else Decimal(tally.rows)


def decide(session: Session, periods: Collection[PeriodRef]) -> LimitChanges:
    """The rows of these periods whose limit state must change."""
    changes = LimitChanges()
    if not periods:
        return changes
    plans = versions_by_id(session, {version for _, _, version in periods})
    customers = _spend_limits(session, {customer_id for customer_id, _, _ in periods})
    for customer_id, period_start, version in sorted(periods):
        rules = plans[version].plan.rules
        spend_limit = customers.get(customer_id)
        if not limits.has_blocking_limits(rules, spend_limit):
            continue
        amount = limits.blocking_amount(limits.money_limits(rules, spend_limit))
        if _within(rules, customer_id, period_start, amount, session):
            continue
        _decide_period(session, rules, customer_id, period_start, amount, changes)
    return changes


_SPEND_LIMITS = (
    "SELECT id, spend_limit_amount, spend_limit_on_reach FROM customers "
    "WHERE id = ANY(CAST(%s AS TEXT[]))"
)


def _spend_limits(
    session: Session, customer_ids: Collection[str]
) -> dict[str, limits.MoneyLimit | None]:
    """The spend limit of each of these customers, read in one statement per chunk (a batch
    touches a few hundred customers: one lookup each cost more than the rest of the write)."""
    found: dict[str, limits.MoneyLimit | None] = {}
    ids = sorted(customer_ids)
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(ids), _CHUNK):
        if postgres:  # by psycopg itself: no statement to build and compile per batch
            chunk = bulk.array_text(ids[start : start + _CHUNK])
            for customer_id, amount, on_reach in bulk.driver_rows(session, _SPEND_LIMITS, chunk):
                found[customer_id] = spend_limit(amount, on_reach)
            continue
        statement = select(
            col(Customer.id), col(Customer.spend_limit_amount), col(Customer.spend_limit_on_reach)
        ).where(bulk.text_in(session, col(Customer.id), ids[start : start + _CHUNK]))
        for customer_id, amount, on_reach in session.exec(statement).all():
            found[customer_id] = spend_limit(amount, on_reach)
    return found


def _decide_period(
    session: Session,
    rules: RuleFile,
    customer_id: str,
    period_start: datetime,
    amount: Decimal | None,
    changes: LimitChanges,
) -> None:
    statement = select(Outcome).where(
        col(Outcome.customer_id) == customer_id,
        col(Outcome.period_start) == period_start,
        col(Outcome.state).in_([str(s) for s in states.TALLIED]),
    )
    # The keys were just resolved with bulk updates by id: read the rows as stored.
    rows = session.exec(statement.execution_options(populate_existing=True)).all()
    candidates = [
        limits.LimitCandidate(row.id or 0, row.outcome, row.occurred_at, row.event_id, row.value)
        for row in rows
    ]
    over = limits.over_limit(rules, candidates, amount)
    for row in rows:
        assert row.id is not None
        if row.id in over and states.COUNTED.holds(row):
            changes.over.append(row)
        elif row.id not in over and states.OVER_LIMIT.holds(row):
            changes.readmit.add((row.customer_id, row.outcome, row.period_start, row.dedupe_key))


def over_limit_changes(changes: LimitChanges) -> list[tuple[int, str, None, None]]:
    """The row changes that take rows out: over_limit, never billed (no counted span)."""
    return [(row.id or 0, str(OutcomeState.OVER_LIMIT), None, None) for row in changes.over]
