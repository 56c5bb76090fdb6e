"""Counts and headings of the outcome list: how many rows match, how many repeats the
default view hides, what the "behind a line" view is of, and a search example taken from the
customer's own keys."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.invoices.models import Invoice, InvoiceLine
from metering.catalog.plans.compiled import rules_of
from metering.ledger.outcomes.models import Outcome
from metering.platform.web.format import Formatter
from metering.surfaces.portal.line_words import describe
from metering.surfaces.portal.outcomes import REPEATS, OutcomeFilter, conditions
from metering.surfaces.portal.outcomes_status import open_keys

OUTCOMES: sa.Table = Outcome.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Counts:
    total: int
    """Rows matching the filter (as listed)."""
    hidden_repeats: int
    """Duplicates and superseded rows the default view leaves out (0 when shown)."""


def counts(session: Session, customer_id: str, flt: OutcomeFilter, now: datetime) -> Counts:
    """Both counts in one pass over the rows the filter keeps with repeats shown: the hidden
    repeats are those rows in a repeat state, the listed ones the others (when hidden)."""
    disputed = open_keys(session, customer_id)
    every = conditions(session, customer_id, replace(flt, hide_repeats=False), now, disputed)
    if not flt.hide_repeats:
        statement = sa.select(sa.func.count()).where(*every)
        return Counts(int(session.execute(statement).scalar_one()), 0)
    repeat = OUTCOMES.c.state.in_(REPEATS)
    statement = sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((repeat, 1), else_=0)), 0)
    ).where(*every)
    rows, repeats = session.execute(statement).one()
    return Counts(int(rows) - int(repeats), int(repeats))


@dataclass(frozen=True, slots=True)
class LineHeading:
    """What the "outcomes behind a line" view is of: the invoice, the line (or all lines)."""

    invoice_id: str
    invoice_label: str
    line: str | None


def line_heading(session: Session, flt: OutcomeFilter) -> LineHeading | None:
    """The heading of a list filtered to an invoice or a line (already checked as the
    customer's by `check_invoice_filter`)."""
    line = session.get(InvoiceLine, flt.line_id) if flt.line_id else None
    invoice_id = flt.invoice_id or (line.invoice_id if line is not None else None)
    invoice = session.get(Invoice, invoice_id) if invoice_id else None
    if invoice is None:
        return None
    label = f"#{invoice.number}" if invoice.number is not None else "draft"
    if line is None:
        return LineHeading(invoice.id, label, None)
    rules = rules_of(session, invoice.plan_version_id)
    words = describe(
        rules,
        kind=line.kind,
        charge_key=line.charge_key,
        outcome=line.outcome,
        quantity=line.quantity,
        detail=line.detail if isinstance(line.detail, dict) else {},
        fmt=Formatter(currency=invoice.currency),
    )
    return LineHeading(invoice.id, label, words.name)


def search_example(session: Session, customer_id: str) -> str | None:
    """The key of the customer's latest outcome: a search example that looks like its data."""
    t = OUTCOMES.c
    found: str | None = session.execute(
        sa.select(t.dedupe_key)
        .where(t.customer_id == customer_id)
        .order_by(t.occurred_at.desc(), t.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return found
