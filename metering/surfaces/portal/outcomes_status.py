"""What the outcome list says about a row: its display status, in SQL and in Python.

A status filter and the label of a listed row follow one rule, `display_clause` and
`display_status` in `metering.ledger.states`; this module gathers the facts the ledger
cannot know: the open disputes of the customer and the invoice lines naming a row. Invoice
lines keep the ids of their outcomes in one array, expanded here (`unnest` on PostgreSQL,
`json_each` on SQLite) for the lines of the periods at hand only. A billed or credited row
links the invoice of the latest live line naming it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.invoices.models import Invoice, InvoiceLine, InvoiceStatus, LineKind
from metering.ledger import states
from metering.ledger.disputes import repository as disputes
from metering.ledger.disputes.models import DisputeStatus
from metering.ledger.outcomes.models import Outcome
from metering.ledger.states import DisplayStatus, Facts
from metering.platform.db import bulk

OUTCOMES: sa.Table = Outcome.__table__  # type: ignore[attr-defined]
LINES: sa.Table = InvoiceLine.__table__  # type: ignore[attr-defined]
INVOICES: sa.Table = Invoice.__table__  # type: ignore[attr-defined]
Range = tuple[datetime | None, datetime | None]  # since (inclusive), until (exclusive)


LABELS = {
    DisplayStatus.PENDING: "Pending settlement",
    DisplayStatus.BILLABLE: "Billable",
    DisplayStatus.BILLED: "Billed",
    DisplayStatus.CREDITED: "Credited",
    DisplayStatus.REVERSED: "Reversed",
    DisplayStatus.VOIDED: "Voided",
    DisplayStatus.DUPLICATE: "Duplicate",
    DisplayStatus.PROBLEM: "Problem",
    DisplayStatus.DISPUTED: "Disputed",
    DisplayStatus.REJECTED: "Rejected",
    DisplayStatus.SUPERSEDED: "Superseded",
    DisplayStatus.AWAITING_VERIFICATION: "Awaiting verification",
    DisplayStatus.UNVERIFIED: "Not verified",
    DisplayStatus.OVER_LIMIT: "Over limit (not billed)",
}


@dataclass(frozen=True, slots=True)
class InvoiceRef:
    id: str
    number: int | None

    @property
    def label(self) -> str:
        return f"#{self.number}" if self.number is not None else "draft"


def line_ids(session: Session) -> tuple[Any, sa.ColumnElement[Any]]:
    """The table-valued expansion of `invoice_lines.outcome_ids` and its element column."""
    if session.get_bind().dialect.name == "postgresql":
        expanded = sa.func.unnest(LINES.c.outcome_ids).table_valued("oid")
        return expanded, expanded.c.oid
    each = sa.func.json_each(LINES.c.outcome_ids).table_valued("value")
    return each, each.c.value


def _live_lines(customer_id: str) -> list[sa.ColumnElement[bool]]:
    """This customer's lines that count outcomes, on invoices that are not void."""
    return [
        LINES.c.customer_id == customer_id,
        LINES.c.outcome.is_not(None),
        INVOICES.c.status != InvoiceStatus.VOID.value,
    ]


def _ids_on_lines(
    session: Session, customer_id: str, kinds: Collection[LineKind], within: Range
) -> sa.Select[Any]:
    """The outcome ids named by the customer's live lines of `kinds` (periods overlapping
    the filter's range only, so an old year of invoices is not expanded for a recent page)."""
    expanded, element = line_ids(session)
    statement = (
        sa.select(element)
        .select_from(LINES.join(INVOICES, INVOICES.c.id == LINES.c.invoice_id))
        .join(expanded, sa.true())
        .where(*_live_lines(customer_id), LINES.c.kind.in_([kind.value for kind in kinds]))
    )
    since, until = within
    if since is not None:
        statement = statement.where(LINES.c.period_end > since)
    if until is not None:
        statement = statement.where(LINES.c.period_start < until)
    return statement


BILLING = (LineKind.CHARGE, LineKind.ADJUSTMENT)


def last_lines(
    session: Session, customer_id: str, rows: Sequence[Any]
) -> dict[int, tuple[str, InvoiceRef]]:
    """Outcome id -> (kind, invoice) of the latest live line naming it, for these rows."""
    if not rows:
        return {}
    ids = [row.id for row in rows]
    starts = sorted({row.period_start for row in rows})
    expanded, element = line_ids(session)
    statement = (
        sa.select(element, LINES.c.kind, INVOICES.c.id, INVOICES.c.number)
        .select_from(LINES.join(INVOICES, INVOICES.c.id == LINES.c.invoice_id))
        .join(expanded, sa.true())
        .where(
            *_live_lines(customer_id),
            LINES.c.period_start.in_(starts),
            element.in_(ids),
        )
        .order_by(INVOICES.c.created_at, INVOICES.c.id, LINES.c.position)
    )
    found: dict[int, tuple[str, InvoiceRef]] = {}
    for outcome_id, kind, invoice_id, number in session.execute(statement):
        found[int(outcome_id)] = (kind, InvoiceRef(invoice_id, number))
    return found


def open_keys(session: Session, customer_id: str) -> dict[disputes.Key, str]:
    return {
        disputes.key_of(row): row.id
        for row in disputes.of_customer(session, customer_id)
        if row.status == DisputeStatus.OPEN.value
    }


KEY_TYPES = (sa.Text(), sa.Text(), sa.DateTime(timezone=True), sa.Text())


def _key_columns() -> tuple[Any, ...]:
    t = OUTCOMES.c
    return (t.customer_id, t.outcome, t.period_start, t.dedupe_key)


def _disputed(session: Session, keys: Collection[disputes.Key]) -> sa.ColumnElement[bool]:
    """Rows of a key with an open dispute."""
    if not keys:
        return sa.false()
    return bulk.tuples_in(session, _key_columns(), KEY_TYPES, list(keys))


def status_condition(
    session: Session,
    customer_id: str,
    status: DisplayStatus,
    within: Range,
    now: datetime,
    open_keys: Collection[disputes.Key],
) -> sa.ColumnElement[bool]:
    """Rows the status filter keeps: `states.display_clause`, with a row's lines those of
    the periods overlapping `within` (a row's period overlaps the range it is listed in)."""
    t = OUTCOMES.c
    facts = Facts(
        disputed=_disputed(session, open_keys),
        credited_line=t.id.in_(_ids_on_lines(session, customer_id, [LineKind.CREDIT], within)),
        billed_line=t.id.in_(_ids_on_lines(session, customer_id, BILLING, within)),
    )
    return states.display_clause(status, t, now, facts)


# The statuses that link the invoice of the row's latest line.
_LINKED = (DisplayStatus.DISPUTED, DisplayStatus.CREDITED, DisplayStatus.BILLED)


def display(
    row: Any,
    now: datetime,
    line: tuple[str, InvoiceRef] | None,
    dispute_id: str | None,
) -> tuple[DisplayStatus, InvoiceRef | None]:
    """A row's status (`states.display_status`, its lines told by `line`, the latest live
    line naming it) and the invoice it links."""
    kind = None if line is None else line[0]
    facts = Facts(
        disputed=dispute_id is not None,
        credited_line=kind == LineKind.CREDIT.value,
        billed_line=kind in BILLING,
    )
    status = states.display_status(row, now, facts)
    return status, line[1] if line is not None and status in _LINKED else None
