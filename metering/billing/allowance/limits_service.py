"""A customer's spend limit, set by the vendor: above zero, never above the plan's maximum.

Changing it decides the open period's block limits again at once (`enforce_limits`): a
lower limit takes outcomes past it out, a higher one counts held ones again.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlmodel import Session

from metering.billing.allowance.schemas import SpendLimitIn, SpendLimitOut
from metering.billing.credits.service import money, parse_amount
from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.subscriptions.service import in_force
from metering.ledger.outcomes.service import enforce_limits
from metering.platform.api import problems
from metering.platform.db.types import utcnow


def _invalid(field: str, message: str) -> problems.ProblemError:
    return problems.INVALID_REQUEST.error(
        f"{field}: {message}", extra={"errors": [{"field": field, "message": message}]}
    )


def out(customer: Customer, currency: str | None = None) -> SpendLimitOut:
    amount = customer.spend_limit_amount
    shown = None
    if amount is not None:
        shown = money(amount, currency) if currency else format(amount.normalize(), "f")
    return SpendLimitOut(
        customer_id=customer.id,
        amount=shown,
        on_reach=customer.spend_limit_on_reach,
    )


def set_spend_limit(
    session: Session, customer: Customer, data: SpendLimitIn, now: datetime
) -> SpendLimitOut:
    subscription = in_force(subscriptions.of_customer(session, customer.id), now)
    if subscription is None:
        raise problems.NO_SUBSCRIPTION.error(f"Customer '{customer.id}' has no plan in force now.")
    rules = rules_of(session, subscription.plan_version_id)
    amount = parse_amount(data.amount, rules.currency, "amount", problems.INVALID_REQUEST)
    if amount <= Decimal(0):
        raise _invalid("amount", f"a spend limit must be above zero, got {data.amount}")
    cap = rules.maximum
    if cap is not None and amount > cap.amount:
        maximum = money(cap.amount, rules.currency)
        raise _invalid(
            "amount",
            f"{data.amount} is above the plan's maximum of {maximum}; it can only lower it",
        )
    customer.spend_limit_amount = amount
    customer.spend_limit_on_reach = data.on_reach
    customer.updated_at = utcnow()
    session.add(customer)
    session.flush()
    enforce_limits(session, customer, now)
    return out(customer, rules.currency)


def clear_spend_limit(session: Session, customer: Customer, now: datetime) -> SpendLimitOut:
    customer.spend_limit_amount = None
    customer.spend_limit_on_reach = None
    customer.updated_at = utcnow()
    session.add(customer)
    session.flush()
    enforce_limits(session, customer, now)
    return out(customer)
