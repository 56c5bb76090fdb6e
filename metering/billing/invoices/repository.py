"""Invoice storage: numbering, bulk writes of a closed batch, and the reads around them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from metering.billing.invoices.models import (
    Invoice,
    InvoiceCounter,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
)
from metering.billing.invoices.rating import LineDraft
from metering.billing.invoices.usage import id_array_text, id_list
from metering.catalog.customers.models import Customer
from metering.catalog.subscriptions.models import Subscription
from metering.platform.db import bulk
from metering.platform.db.ids import new_id, new_ids
from metering.platform.db.members import one_of

_INVOICES: sa.Table = Invoice.__table__  # type: ignore[attr-defined]
_LINES: sa.Table = InvoiceLine.__table__  # type: ignore[attr-defined]
_COUNTERS: sa.Table = InvoiceCounter.__table__  # type: ignore[attr-defined]


def new_invoice_id() -> str:
    return new_id("inv")


def reserve_numbers(session: Session, vendor_id: str, count: int) -> int:
    """The first of `count` consecutive invoice numbers of the vendor, taken in this
    transaction: the counter row stays locked until commit, so numbers have no gaps."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(_COUNTERS) if dialect == "postgresql" else sqlite.insert(_COUNTERS)
    statement = (
        insert.values(vendor_id=vendor_id, last_number=count)
        .on_conflict_do_update(
            index_elements=["vendor_id"],
            set_={"last_number": _COUNTERS.c.last_number + count},
        )
        .returning(_COUNTERS.c.last_number)
    )
    last: int = session.execute(statement).scalar_one()
    return last - count + 1


def customers_invoiced(
    session: Session, customer_ids: Collection[str], period_start: datetime
) -> set[str]:
    """Which of the customers already have an invoice for the period."""
    if not customer_ids:
        return set()
    return set(
        session.exec(
            select(Invoice.customer_id).where(
                one_of(col(Invoice.customer_id), sorted(customer_ids)),
                Invoice.period_start == period_start,
                Invoice.kind == InvoiceKind.PERIOD.value,
            )
        ).all()
    )


def interims_of(
    session: Session, customer_ids: Collection[str], period_start: datetime
) -> dict[str, Invoice]:
    """The interim invoice (not void) of each customer's period starting at `period_start`:
    an interim is dated at its instant, so it is found by the period its lines price."""
    if not customer_ids:
        return {}
    rows = session.exec(
        select(Invoice)
        .join(InvoiceLine, col(InvoiceLine.invoice_id) == col(Invoice.id))
        .where(
            one_of(col(Invoice.customer_id), sorted(customer_ids)),
            Invoice.kind == InvoiceKind.INTERIM.value,
            col(Invoice.status) != InvoiceStatus.VOID.value,
            InvoiceLine.period_start == period_start,
        )
        .order_by(col(Invoice.created_at))
    ).all()
    return {row.customer_id: row for row in rows}


def invoices_of_periods(
    session: Session, periods: Collection[tuple[str, datetime]]
) -> dict[str, list[Invoice]]:
    """The invoices of (customer id, period start) pairs, by customer, oldest period first."""
    wanted = set(periods)
    if not wanted:
        return {}
    rows = session.exec(
        select(Invoice)
        .where(
            col(Invoice.customer_id).in_(sorted({c for c, _ in wanted})),
            Invoice.kind == InvoiceKind.PERIOD.value,
        )
        .order_by(col(Invoice.period_start))
    ).all()
    found: dict[str, list[Invoice]] = {}
    for invoice in rows:
        if (invoice.customer_id, invoice.period_start) in wanted:
            found.setdefault(invoice.customer_id, []).append(invoice)
    return found


def _line_row(
    line_id: str, invoice: dict[str, Any], position: int, line: LineDraft, ids_as_text: bool
) -> dict[str, Any]:
    ids = line.outcome_ids
    return {
        "id": line_id,
        "invoice_id": invoice["id"],
        "customer_id": invoice["customer_id"],
        "position": position,
        "kind": line.kind,
        "charge_key": line.charge_key,
        "description": line.description,
        "outcome": line.outcome,
        "period_start": line.period_start,
        "period_end": line.period_end,
        "corrects_invoice_id": line.corrects_invoice_id,
        "quantity": line.quantity,
        "amount": line.amount,
        "detail": line.detail,
        "outcome_ids": id_array_text(ids) if ids_as_text else id_list(ids),
    }


def _copies(session: Session, rows: Sequence[Any]) -> bool:
    """Whether `bulk.insert_rows` would COPY these rows (it does from a few dozen on
    PostgreSQL); smaller batches take a plain multi-row INSERT here, since array columns
    do not fit its unnest path."""
    return session.get_bind().dialect.name == "postgresql" and len(rows) >= bulk.COPY_THRESHOLD


def _insert(session: Session, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    if _copies(session, rows):
        bulk.insert_rows(session, table, rows)
    elif rows:
        session.execute(sa.insert(table), list(rows))


def insert_invoices(
    session: Session, invoices: Sequence[tuple[dict[str, Any], Sequence[LineDraft]]]
) -> None:
    """Write invoices (rows with every column) and their lines: two statements a batch."""
    count = sum(len(lines) for _, lines in invoices)
    as_text = _copies(session, range(count))
    line_ids = iter(new_ids("il", count))
    line_rows = [
        _line_row(next(line_ids), invoice, position, line, as_text)
        for invoice, lines in invoices
        for position, line in enumerate(lines, start=1)
    ]
    _insert(session, _INVOICES, [invoice for invoice, _ in invoices])
    _insert(session, _LINES, line_rows)


def advance_subscriptions(
    session: Session, subscription_ids: Sequence[str], billed_through: datetime, now: datetime
) -> None:
    session.execute(
        sa.update(Subscription)
        .where(one_of(col(Subscription.id), list(subscription_ids)))
        .values(billed_through=billed_through, updated_at=now)
    )


def listing(
    vendor_id: str, customer_id: str | None = None, status: str | None = None
) -> SelectOfScalar[Invoice]:
    statement = select(Invoice).where(Invoice.vendor_id == vendor_id)
    if customer_id is not None:
        statement = statement.where(Invoice.customer_id == customer_id)
    if status is not None:
        statement = statement.where(Invoice.status == status)
    return statement


def lines_of(session: Session, invoice_id: str) -> Sequence[InvoiceLine]:
    return session.exec(
        select(InvoiceLine)
        .where(InvoiceLine.invoice_id == invoice_id)
        .order_by(col(InvoiceLine.position))
    ).all()


def invoices_by_id(session: Session, invoice_ids: Collection[str]) -> Sequence[Invoice]:
    return session.exec(select(Invoice).where(col(Invoice.id).in_(sorted(invoice_ids)))).all()


def external_ids(session: Session, customer_ids: Collection[str]) -> dict[str, str]:
    """Customer id -> the vendor's own id for it, for showing invoices to people."""
    rows = session.exec(
        select(Customer.id, Customer.external_id).where(col(Customer.id).in_(sorted(customer_ids)))
    ).all()
    return dict(rows)
