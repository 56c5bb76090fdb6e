"""The customers list's figures for one page of customers, in a few batched queries (the
credit balances usable now: one query over the page's grants).

Only the customers shown are rated, with the close's own live rating
(`metering.billing.invoices.live.rate_live`): one aggregate per plan version and period
among them, so a page costs the same with 10 or 10,000 customers. The upcoming total is
`GET /v1/customers/{id}/upcoming_invoice`'s: the period so far plus pending corrections
(only customers with a stale period have any, looked up in one query).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from metering.billing.credits import repository as credits
from metering.billing.invoices.live import rate_live
from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.invoices.periods import subscription_period
from metering.billing.invoices.service import pending_corrections
from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import PlanRef, rules_of, versions_by_id
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.subscriptions.models import Subscription
from metering.catalog.subscriptions.service import in_force
from metering.ledger.outcomes.stale import stale_marks
from pricing_rules.periods import Period
from pricing_rules.rules import RuleFile


@dataclass(frozen=True, slots=True)
class Upcoming:
    """What the customer's current period would bill now."""

    total: Decimal
    currency: str
    period: Period


@dataclass(frozen=True, slots=True)
class PaymentStatus:
    """How the customer pays: failed payments, open (unpaid) invoices, paid ones."""

    failed: int = 0
    open: int = 0
    paid: int = 0

    @property
    def label(self) -> str:
        if self.failed:
            return f"{self.failed} failed payment{'s' if self.failed != 1 else ''}"
        if self.open:
            return f"{self.open} open invoice{'s' if self.open != 1 else ''}"
        return "Paid up" if self.paid else "No invoices yet"

    @property
    def css(self) -> str:
        if self.failed:
            return "payment_failed"
        return "issued" if self.open else "paid"


@dataclass(frozen=True, slots=True)
class CustomerRow:
    customer: Customer
    plan: str | None
    upcoming: Upcoming | None
    payment: PaymentStatus
    credits: dict[str, Decimal]
    """Currency -> the credit balance usable now (none: no usable grant)."""


def upcoming_totals(
    session: Session,
    current: dict[str, Subscription],
    customers: dict[str, Customer],
    now: datetime,
) -> dict[str, Upcoming]:
    """Each subscribed customer's upcoming total, rated per (plan version, period) group."""
    groups: dict[tuple[str, Period], list[str]] = defaultdict(list)
    rules: dict[str, RuleFile] = {}
    for customer_id, sub in current.items():
        found = rules.setdefault(sub.plan_version_id, rules_of(session, sub.plan_version_id))
        groups[(sub.plan_version_id, subscription_period(sub, found, now))].append(customer_id)
    marked = {customer_id for customer_id, _ in stale_marks(session, list(current))}
    totals: dict[str, Upcoming] = {}
    for (version_id, period), ids in groups.items():
        plan_rules = rules[version_id]
        for customer_id, rated in rate_live(session, plan_rules, ids, period, now).items():
            total = rated.total
            if customer_id in marked:
                lines = pending_corrections(
                    session, customers[customer_id], now, period.start, plan_rules.currency
                )
                total += sum((line.amount for line in lines), Decimal(0))
            totals[customer_id] = Upcoming(total, plan_rules.currency, period)
    return totals


def payment_statuses(session: Session, customer_ids: Sequence[str]) -> dict[str, PaymentStatus]:
    """Counts of failed, open and paid invoices per customer, in one grouped query."""
    if not customer_ids:
        return {}
    rows = session.exec(
        select(Invoice.customer_id, Invoice.status, sa.func.count())
        .where(
            col(Invoice.customer_id).in_(customer_ids),
            col(Invoice.status).in_(
                [
                    InvoiceStatus.PAYMENT_FAILED.value,
                    InvoiceStatus.ISSUED.value,
                    InvoiceStatus.PAID.value,
                ]
            ),
        )
        .group_by(col(Invoice.customer_id), col(Invoice.status))
    ).all()
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for customer_id, status, count in rows:
        counts[customer_id][status] = count
    return {
        customer_id: PaymentStatus(
            failed=found.get(InvoiceStatus.PAYMENT_FAILED.value, 0),
            open=found.get(InvoiceStatus.ISSUED.value, 0),
            paid=found.get(InvoiceStatus.PAID.value, 0),
        )
        for customer_id, found in counts.items()
    }


def plan_label(ref: PlanRef) -> str:
    """`slug vN`, as `describe` names a subscription's plan, from the compiled-plan cache."""
    rules = ref.plan.rules
    return f"{rules.plan} v{rules.version}" + (" (own prices)" if ref.overridden else "")


def customer_rows(
    session: Session, customers: Sequence[Customer], now: datetime
) -> list[CustomerRow]:
    """The rows of one page of the list, in the order given."""
    ids = [customer.id for customer in customers]
    current = {
        customer_id: sub
        for customer_id, subs in subscriptions.of_customers(session, ids).items()
        if (sub := in_force(subs, now)) is not None
    }
    refs = versions_by_id(session, {sub.plan_version_id for sub in current.values()})
    plans = {
        customer_id: plan_label(refs[sub.plan_version_id]) for customer_id, sub in current.items()
    }
    upcoming = upcoming_totals(session, current, {c.id: c for c in customers}, now)
    payments = payment_statuses(session, ids)
    balances = credits.available_of(session, ids, now)
    return [
        CustomerRow(
            customer=customer,
            plan=plans.get(customer.id),
            upcoming=upcoming.get(customer.id),
            payment=payments.get(customer.id, PaymentStatus()),
            credits={c: a for c, a in balances.get(customer.id, {}).items() if a},
        )
        for customer in customers
    ]
