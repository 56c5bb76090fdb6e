"""Failed payments and their retries (dunning), whatever the provider.

A declined or impossible payment (no payment method, card declined, insufficient funds,
authentication required) makes the invoice `payment_failed`, with the reason in plain words
on its payment link. The sync tries the payment again on the vendor's schedule: days after
the first failure (3, 5 and 7 by default), each retry a new request at the provider (a new
idempotency key). When no scheduled retry is left after a failure, the invoice stays
`payment_failed` and `invoice.uncollectible` is announced, once (an automatic top-up's
purchase invoice is then voided and the top-up armed again: `credit_purchases.abandon`). A
paid or void invoice is never tried again. A new payment method (`retry_now`) makes the
customer's failed invoices due at once; if that attempt fails too, the next scheduled retry
after it follows.

The lifecycle has no payment_failed -> payment_failed move: a repeated failure updates the
reason and the schedule on the payment link and announces nothing again
(`invoice.payment_failed` is sent for the first failure; `invoice.uncollectible` for the
failure after which no retry is left).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.credit_purchases import abandon
from metering.billing.invoices import lifecycle
from metering.billing.invoices.announce import announce_uncollectible
from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.payments import links
from metering.billing.payments.models import SyncState
from metering.billing.payments.protocol import Declined
from metering.catalog.customers.models import CollectionMethod
from metering.catalog.vendors.models import Vendor
from metering.platform.db.types import utcnow

INVOICES: sa.Table = Invoice.__table__  # type: ignore[attr-defined]
VENDORS: sa.Table = Vendor.__table__  # type: ignore[attr-defined]

# Days after the first failed payment on which it is tried again, unless the vendor sets its own.
DEFAULT_RETRY_DAYS: tuple[int, ...] = (3, 5, 7)


def retry_days(session: Session, vendor_id: str) -> tuple[int, ...]:
    """The vendor's retry schedule (days after the first failure, ascending)."""
    days = session.execute(
        sa.select(VENDORS.c.payment_retry_days).where(VENDORS.c.id == vendor_id)
    ).scalar_one_or_none()
    return DEFAULT_RETRY_DAYS if days is None else tuple(days)


def next_retry(first_failed_at: datetime, days: Sequence[int], now: datetime) -> datetime | None:
    """The first scheduled retry after `now`; None when none is left."""
    for day in days:
        at = first_failed_at + timedelta(days=day)
        if at > now:
            return at
    return None


def record_decline(session: Session, invoice_id: str, declined: Declined, now: datetime) -> None:
    """A payment the sync attempted failed: keep why, schedule the next retry (or give up and
    announce it), and make the invoice payment_failed (the caller's transaction)."""
    link = links.LINKS
    row = session.execute(
        sa.select(
            link.c.first_failed_at,
            link.c.failed_payments,
            link.c.uncollectible_at,
            link.c.key_round,
            INVOICES.c.vendor_id,
        )
        .join(INVOICES, INVOICES.c.id == link.c.invoice_id)
        .where(link.c.invoice_id == invoice_id)
    ).one()
    first = row.first_failed_at or now
    retry = next_retry(first, retry_days(session, row.vendor_id), now)
    gives_up = retry is None and row.uncollectible_at is None
    links.update(
        session,
        invoice_id,
        step=SyncState.FAILED.value,
        error=declined.reason,
        decline_code=declined.code.value,
        first_failed_at=first,
        failed_payments=row.failed_payments + 1,
        key_round=row.key_round + 1,  # a definite answer: the next attempt is a new request
        attempts=0,
        next_attempt_at=retry,
        uncollectible_at=now if gives_up else row.uncollectible_at,
    )
    lifecycle.mark_failed(session, invoice_id)
    if gives_up:
        announce_uncollectible(session.connection(), invoice_id)
        abandon.on_uncollectible(session, invoice_id, now)


def record_reported_decline(session: Session, invoice_id: str, declined: Declined) -> bool:
    """A provider's webhook says a payment failed (one the customer made at the provider, or
    the provider's report of the sync's own attempt, which the sync counts): the invoice
    becomes payment_failed with the reason, once; the sync's retry schedule is untouched.
    Whether the invoice moved."""
    found = links.of_invoices(session, [invoice_id]).get(invoice_id)
    if found is not None and found.decline_code is None:
        links.update(
            session,
            invoice_id,
            error=declined.reason,
            decline_code=declined.code.value,
            first_failed_at=utcnow(),
        )
    return lifecycle.mark_failed(session, invoice_id)


def retry_now(
    session: Session,
    *,
    customer_id: str | None = None,
    invoice_id: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Try the failed payments of a customer (or one invoice) again now, as when its payment
    method was updated: the ids of the invoices made due (the caller commits). Only invoices
    charged automatically whose payment failed are tried; paid and void ones never are."""
    if (customer_id is None) == (invoice_id is None):
        raise ValueError("retry_now takes a customer_id or an invoice_id")
    link = links.LINKS
    which = (
        INVOICES.c.customer_id == customer_id
        if customer_id is not None
        else INVOICES.c.id == invoice_id
    )
    due = list(
        session.execute(
            sa.select(INVOICES.c.id)
            .join(link, link.c.invoice_id == INVOICES.c.id)
            .where(
                which,
                INVOICES.c.status == InvoiceStatus.PAYMENT_FAILED.value,
                INVOICES.c.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY.value,
                link.c.step == SyncState.FAILED.value,
            )
            .order_by(INVOICES.c.id)
        ).scalars()
    )
    at = now or utcnow()
    for found in due:
        links.update(session, found, next_attempt_at=at, error=None)
    return due
