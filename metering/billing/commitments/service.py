"""A customer's consumption against its commitment: used, remaining, projected, term end."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import Session

from metering.billing.commitments.positions import spent_between, term_of, used_between
from metering.billing.commitments.schemas import CommitmentOut
from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions import repository
from metering.catalog.subscriptions.service import in_force
from metering.platform.api import problems
from pricing_rules.measures import Count

ZERO = Decimal(0)


def consumption(session: Session, customer: Customer, now: datetime) -> CommitmentOut:
    """The commitment of the plan in force now; a 404 problem when there is none."""
    subscription = in_force(repository.of_customer(session, customer.id), now)
    rules = rules_of(session, subscription.plan_version_id) if subscription else None
    commitment = rules.commitment if rules else None
    term = (
        term_of(session, rules, customer.id, subscription.plan_id, now)
        if rules and subscription
        else None
    )
    if rules is None or commitment is None or term is None:
        raise problems.NO_COMMITMENT.error(
            f"Customer '{customer.id}' has no commitment in its plan in force now."
        )
    if commitment.amount is not None:
        plan_id = subscription.plan_id if subscription else ""
        used = spent_between(session, customer.id, plan_id, term.start, term.end, now)
    else:
        used = used_between(session, rules, customer.id, term.start, term.end, now)
    elapsed = (now - term.start).total_seconds()
    length = (term.end - term.start).total_seconds()
    projected = used * Decimal(length) / Decimal(elapsed) if elapsed > 0 else used
    whole = not commitment.by_amount and isinstance(
        rules.outcomes[commitment.outcome].measure, Count
    )
    projected = projected.quantize(Decimal(1) if whole else Decimal("0.01"), ROUND_HALF_UP)
    show = _money if commitment.by_amount else _text
    return CommitmentOut(
        customer_id=customer.id,
        form="amount" if commitment.by_amount else "units",
        outcome=None if commitment.by_amount else commitment.outcome,
        committed=show(commitment.committed_units),
        used=show(used),
        remaining=show(max(commitment.committed_units - used, ZERO)),
        projected=show(projected),
        price=None if commitment.price is None else str(commitment.price),
        term_start=term.start,
        term_end=term.end,
        as_of=now,
    )


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"
