"""A change in one period of a commitment term moves the crossing for the periods after it.

When a period of a term is marked stale (a late event, a reversal), every period after it
in the same term that has an invoice already is marked too, so the close that corrects the
first re-splits the others at the crossing as it now falls (a reversal in month 8 moves one
of month 9's overage units back under the commitment, and the term's true-up follows).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from metering.billing.commitments.positions import term_of
from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions.models import Subscription
from metering.ledger.outcomes.stale import mark_stale, stale_marks
from metering.platform.db.members import one_of
from pricing_rules.rules import RuleFile


def spread_stale_marks(session: Session, customer_ids: Collection[str]) -> None:
    """Mark the invoiced periods that follow a stale one inside its commitment term."""
    marks = stale_marks(session, customer_ids)
    if not marks:
        return
    earliest: dict[str, datetime] = {}
    for customer_id, start in marks:
        earliest[customer_id] = min(start, earliest.get(customer_id, start))
    i, s = Invoice, Subscription
    rows = session.execute(
        sa.select(
            col(i.vendor_id),
            col(i.customer_id),
            col(i.period_start),
            col(i.plan_version_id),
            col(s.plan_id),
        )
        .join(s, col(s.id) == col(i.subscription_id))
        .where(
            one_of(col(i.customer_id), sorted(earliest)),
            col(i.status) != InvoiceStatus.VOID.value,
        )
        .order_by(col(i.customer_id), col(i.period_start))
    ).all()
    rules: dict[str, RuleFile] = {}
    wanted = []
    for vendor_id, customer_id, period_start, version, plan_id in rows:
        if (customer_id, period_start) in marks or period_start <= earliest[customer_id]:
            continue
        if version not in rules:
            rules[version] = rules_of(session, version)
        term = term_of(session, rules[version], customer_id, plan_id, period_start)
        if term is None:
            continue
        if any(c == customer_id and term.start <= start < period_start for c, start in marks):
            wanted.append((vendor_id, customer_id, period_start))
    mark_stale(session, wanted)
