"""Threshold invoicing: an interim invoice once an open period's settled amount reaches the
plan's `billing.invoice_at` (>=), so fast-growing usage is billed before the period ends.

The interim bills what has settled so far, priced by the close's own steps as of the
instant it runs (`price_claimed`: tiers, minimum, cap, commitment), and credits pay it as
they pay a close. The period's own invoice then bills the rest by difference per charge
(`close.bill_rest_after_interim`, the correction arithmetic), so interim plus final is the
period's price: a volume tier reached later can make the final a credit. The settled amount
compared with the threshold is the interim's total without the minimum true-up (a minimum
is no usage). One interim per period; none in its last 24 hours, where the close is near.
Checked by the scheduler's job and by `metering invoices run --as-of`; safe to run twice
(the subscription row is locked, then the period's interim looked up again).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from metering.billing.credits.drawdown import record_uses, settle_invoices
from metering.billing.invoices import repository
from metering.billing.invoices.close import (
    ClosedInvoice,
    Draft,
    DuePeriod,
    closings,
    issue_drafts,
    price_claimed,
)
from metering.billing.invoices.models import InvoiceKind, LineKind
from metering.billing.invoices.periods import subscription_period
from metering.billing.invoices.usage import measure_tallies
from metering.billing.invoices.values import ValueStream
from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions.models import Subscription
from pricing_rules.rules import RuleFile

LAST_HOURS = timedelta(hours=24)
"""No interim invoice this close to a period's end."""


def invoice_thresholds(
    engine: Engine,
    now: datetime,
    vendor_id: str | None = None,
    customer_id: str | None = None,
) -> list[ClosedInvoice]:
    """Issue the interim invoice of every open period that reached its threshold by `now`."""
    with Session(engine) as session:
        s = Subscription
        statement = sa.select(col(s.id)).where(
            col(s.starts_at) <= now, sa.or_(col(s.ends_at).is_(None), col(s.ends_at) > now)
        )
        if vendor_id is not None:
            statement = statement.where(col(s.vendor_id) == vendor_id)
        if customer_id is not None:
            statement = statement.where(col(s.customer_id) == customer_id)
        candidates = list(session.execute(statement.order_by(col(s.id))).scalars())
    issued: list[ClosedInvoice] = []
    for subscription_id in candidates:
        issued += _check(engine, subscription_id, now)
    return issued


def threshold_of(rules: RuleFile, customer: Customer | None) -> Decimal | None:
    """The settled amount that triggers an interim invoice: the customer's own, else the
    plan's (None: no threshold)."""
    if customer is not None and customer.invoice_at is not None:
        return customer.invoice_at
    invoice_at = rules.billing.invoice_at
    return invoice_at.amount if invoice_at is not None else None


def _check(engine: Engine, subscription_id: str, now: datetime) -> list[ClosedInvoice]:
    """One subscription's open period, in its own transaction."""
    with Session(engine, expire_on_commit=False) as session:
        sub = session.execute(
            sa.select(Subscription).where(col(Subscription.id) == subscription_id).with_for_update()
        ).scalar_one_or_none()
        if sub is None:
            return []
        rules = rules_of(session, sub.plan_version_id)
        threshold = threshold_of(rules, session.get(Customer, sub.customer_id))
        if threshold is None:
            return []
        period = subscription_period(sub, rules, now)
        if now >= period.end - LAST_HOURS:
            return []
        if repository.interims_of(session, [sub.customer_id], period.start):
            return []
        cursor = sub.billed_through or sub.starts_at
        item = DuePeriod(
            sub.id, sub.customer_id, sub.vendor_id, sub.plan_version_id, cursor, sub.ends_at, period
        )
        ids = [sub.customer_id]
        with ValueStream(session, rules, ids, period.start, now) as stream:
            stream.prefetch()
            tallies = measure_tallies(session, rules, ids, period.start, now)
            [draft] = price_claimed(session, [item], rules, tallies, stream, now)
        if _settled(draft) < threshold:
            return []
        draft.kind = InvoiceKind.INTERIM
        settled = settle_invoices(session, closings([draft]), rules.currency, now)
        if draft.invoice_id in settled:
            draft.lines.extend(settled[draft.invoice_id].lines)
        issued = issue_drafts(session, [draft], rules, now, now)
        record_uses(session, settled, now)
        session.commit()
        return issued


def _settled(draft: Draft) -> Decimal:
    return sum(
        (line.amount for line in draft.lines if line.kind != LineKind.MINIMUM.value), Decimal(0)
    )
