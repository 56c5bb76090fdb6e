"""Reading and writing payment links: the provider's ids, hosted page and sync state.

Writes work in the caller's session (and transaction); reads take many ids at once, so a
page of invoices costs one query for its links, not one per invoice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from metering.billing.invoices.models import Invoice
from metering.billing.payments.models import (
    CustomerPaymentLink,
    InvoiceLinePaymentLink,
    InvoicePayment,
    InvoicePaymentLink,
    SyncState,
)
from metering.platform.db import bulk
from metering.platform.db.types import utcnow

LINKS: sa.Table = InvoicePaymentLink.__table__  # type: ignore[attr-defined]
ITEMS: sa.Table = InvoiceLinePaymentLink.__table__  # type: ignore[attr-defined]
CUSTOMERS: sa.Table = CustomerPaymentLink.__table__  # type: ignore[attr-defined]
PAYMENTS: sa.Table = InvoicePayment.__table__  # type: ignore[attr-defined]
INVOICES: sa.Table = Invoice.__table__  # type: ignore[attr-defined]


def _insert(session: Session, table: sa.Table) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _new_link(
    invoice_id: str, due_at: datetime, now: datetime, provider: str | None = None
) -> dict[str, Any]:
    """A link to `provider` (None: whichever provider takes it first), due at `due_at`
    (every column: it may be COPYed)."""
    return {
        "invoice_id": invoice_id,
        "provider": provider,
        "external_id": None,
        "hosted_url": None,
        "step": SyncState.NOT_STARTED.value,
        "lease_owner": None,
        "lease_until": None,
        "attempts": 0,
        "next_attempt_at": due_at,
        "error": None,
        "key_round": 0,
        "decline_code": None,
        "first_failed_at": None,
        "failed_payments": 0,
        "uncollectible_at": None,
        "tax": None,
        "tax_lines": None,
        "updated_at": now,
    }


def open_links(session: Session, providers: Sequence[tuple[str, str]], due_at: datetime) -> None:
    """Links for invoices just issued, each to its provider (invoice id, provider), due at
    once (one bulk insert for a closed batch)."""
    now = utcnow()
    rows = [_new_link(invoice, due_at, now, provider) for invoice, provider in providers]
    bulk.insert_rows(session, LINKS, rows)


def make_due(session: Session, invoice_id: str, at: datetime) -> None:
    """The invoice's provider has something to do (a void to carry out): due at `at`."""
    statement = _insert(session, LINKS).values(_new_link(invoice_id, at, utcnow()))
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["invoice_id"],
            set_={"next_attempt_at": at, "updated_at": statement.excluded.updated_at},
        )
    )


def update(session: Session, invoice_id: str, **values: Any) -> None:
    values.setdefault("updated_at", utcnow())
    session.execute(sa.update(LINKS).where(LINKS.c.invoice_id == invoice_id).values(**values))


def store_external_id(session: Session, invoice_id: str, provider: str, external_id: str) -> None:
    """The provider's id of the invoice, once: a link that has one keeps it."""
    now = utcnow()
    row = {
        **_new_link(invoice_id, now, now),
        "provider": provider,
        "external_id": external_id,
        "next_attempt_at": None,
    }
    statement = _insert(session, LINKS).values(row)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["invoice_id"],
            set_={
                "provider": sa.func.coalesce(LINKS.c.provider, provider),
                "external_id": external_id,
                "updated_at": now,
            },
            where=LINKS.c.external_id.is_(None),
        )
    )


def link_customer(session: Session, customer_id: str, provider: str, external_id: str) -> None:
    """Link the customer to the provider's once; a link made meanwhile stays."""
    statement = _insert(session, CUSTOMERS).values(
        customer_id=customer_id, provider=provider, external_id=external_id, created_at=utcnow()
    )
    session.execute(statement.on_conflict_do_nothing(index_elements=["customer_id", "provider"]))


def relink_customer(session: Session, customer_id: str, provider: str, external_id: str) -> None:
    """Link the customer to the provider's `external_id`, replacing the link it had."""
    statement = _insert(session, CUSTOMERS).values(
        customer_id=customer_id, provider=provider, external_id=external_id, created_at=utcnow()
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["customer_id", "provider"],
            set_={"external_id": external_id, "created_at": statement.excluded.created_at},
        )
    )


def customer_external_ids(
    session: Session, customer_ids: Collection[str], provider: str
) -> dict[str, str]:
    """Customer id -> its customer at the provider, for the customers linked there."""
    if not customer_ids:
        return {}
    rows = session.execute(
        sa.select(CUSTOMERS.c.customer_id, CUSTOMERS.c.external_id).where(
            CUSTOMERS.c.provider == provider, CUSTOMERS.c.customer_id.in_(sorted(customer_ids))
        )
    ).all()
    return {row.customer_id: row.external_id for row in rows}


def customers_at(session: Session, provider: str, external_id: str) -> list[str]:
    """Our customers linked to the provider's customer `external_id`."""
    return list(
        session.execute(
            sa.select(CUSTOMERS.c.customer_id)
            .where(CUSTOMERS.c.provider == provider, CUSTOMERS.c.external_id == external_id)
            .order_by(CUSTOMERS.c.customer_id)
        ).scalars()
    )


# Steps at which the provider's invoice is being made under the customer's account there.
IN_THE_MAKING = (SyncState.CUSTOMER_SYNCED, SyncState.INVOICE_CREATED, SyncState.ITEMS_CREATED)


def invoices_in_the_making(session: Session, customer_id: str, provider: str) -> list[str]:
    """The customer's invoices whose copy at the provider is being made (after its customer
    there was chosen, before it is final): their customer there must not change."""
    invoices = INVOICES
    return list(
        session.execute(
            sa.select(LINKS.c.invoice_id)
            .join(invoices, invoices.c.id == LINKS.c.invoice_id)
            .where(
                invoices.c.customer_id == customer_id,
                LINKS.c.provider == provider,
                LINKS.c.step.in_([step.value for step in IN_THE_MAKING]),
            )
            .order_by(LINKS.c.invoice_id)
        ).scalars()
    )


def link_item(session: Session, line_id: str, provider: str, external_id: str) -> None:
    statement = _insert(session, ITEMS).values(
        line_id=line_id, provider=provider, external_id=external_id
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["line_id"], set_={"external_id": external_id, "provider": provider}
        )
    )


def owed(total: Decimal, link: InvoicePaymentLink | None) -> Decimal:
    """What the customer owes for an invoice: its total, plus the tax its provider computed."""
    tax = link.tax if link is not None else None
    return total if tax is None else total + tax


def of_invoices(session: Session, invoice_ids: Collection[str]) -> dict[str, InvoicePaymentLink]:
    """Invoice id -> its link, for the invoices that have one."""
    if not invoice_ids:
        return {}
    rows = session.exec(
        select(InvoicePaymentLink).where(
            col(InvoicePaymentLink.invoice_id).in_(sorted(invoice_ids))
        )
    ).all()
    return {row.invoice_id: row for row in rows}


def item_ids(session: Session, line_ids: Collection[str]) -> dict[str, str]:
    """Line id -> the provider's item id, for the lines that have one."""
    if not line_ids:
        return {}
    rows = session.exec(
        select(InvoiceLinePaymentLink.line_id, InvoiceLinePaymentLink.external_id).where(
            col(InvoiceLinePaymentLink.line_id).in_(sorted(line_ids))
        )
    ).all()
    return dict(rows)


def customer_external_id(session: Session, customer_id: str, provider: str) -> str | None:
    link = session.get(CustomerPaymentLink, (customer_id, provider))
    return None if link is None else link.external_id


def store_hosted_url(session: Session, invoice_id: str, url: str) -> bool:
    """The invoice's hosted page at its provider, once; whether it was stored now."""
    result = session.connection().execute(
        sa.update(LINKS)
        .where(LINKS.c.invoice_id == invoice_id, LINKS.c.hosted_url.is_(None))
        .values(hosted_url=url, updated_at=utcnow())
    )
    return result.rowcount == 1
