"""What a provider's webhook event does to our invoice, whichever the provider.

The provider verifies and parses the delivery (`PaymentProvider.parse_webhook`) and keeps
each event id applied once; this finds our invoice and moves it through the lifecycle.
Deliveries repeat and arrive out of order: an invoice never moves back from paid or void,
so a late `payment failed` after `paid`, or anything after a void, changes nothing. A
`payment failed` counts only for an issued invoice: the failures of the sync's own attempts
are the sync's to count and retry (`dunning`), whichever arrives first.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.invoices import lifecycle
from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.payments import dunning, links
from metering.billing.payments.models import SyncState
from metering.billing.payments.protocol import (
    Declined,
    InvoiceChange,
    Opened,
    Paid,
    ProviderEvent,
    Voided,
)
from metering.platform.db.types import utcnow

INVOICES: sa.Table = Invoice.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class WebhookOutcome:
    """`applied`: our invoice changed; `duplicate`: this event id was applied before."""

    event_id: str
    type: str
    invoice_id: str | None
    applied: bool
    duplicate: bool
    detail: str


def find_invoice(session: Session, provider: str, event: ProviderEvent) -> tuple[str, str] | None:
    """(id, status) of ours, by the provider's id we stored or, if the sync never stored
    it, by our id on the provider's copy."""
    if event.external_invoice_id is not None:
        found = session.execute(
            sa.select(INVOICES.c.id, INVOICES.c.status)
            .join(links.LINKS, links.LINKS.c.invoice_id == INVOICES.c.id)
            .where(
                links.LINKS.c.provider == provider,
                links.LINKS.c.external_id == event.external_invoice_id,
            )
        ).first()
        if found is not None:
            return found.id, found.status
    if event.invoice_id is None:
        return None
    found = session.execute(
        sa.select(INVOICES.c.id, INVOICES.c.status).where(INVOICES.c.id == event.invoice_id)
    ).first()
    return None if found is None else (found.id, found.status)


def apply_event(
    session: Session, provider: str, label: str, event: ProviderEvent
) -> WebhookOutcome:
    """Update our invoice for the event (the caller commits); `label` names the provider
    in what the answer says."""
    if event.change is None:
        return WebhookOutcome(event.id, event.type, None, False, False, "not an event we use")
    found = find_invoice(session, provider, event)
    if found is None:
        return WebhookOutcome(event.id, event.type, None, False, False, "not one of our invoices")
    invoice_id, status = found
    if event.external_invoice_id is not None:
        links.store_external_id(session, invoice_id, provider, event.external_invoice_id)
    detail = _apply(session, invoice_id, status, label, event.change)
    return WebhookOutcome(
        event.id,
        event.type,
        invoice_id,
        detail is not None,
        False,
        detail or f"invoice is {status}",
    )


def apply_payment_method(
    session: Session, event: ProviderEvent, customer_ids: list[str], detail: str
) -> WebhookOutcome:
    """The customers' new payment method is their default at the provider now (`detail`
    says which): their failed payments are tried again at once (`dunning.retry_now`). Both
    events of one setup may do this; a paid invoice is never tried again."""
    retried = [
        invoice
        for customer_id in customer_ids
        for invoice in dunning.retry_now(session, customer_id=customer_id)
    ]
    retry = f"; {len(retried)} failed invoice(s) tried again now" if retried else ""
    return WebhookOutcome(event.id, event.type, None, True, False, detail + retry)


def _apply(
    session: Session, invoice_id: str, status: str, label: str, change: InvoiceChange
) -> str | None:
    """Change the invoice; what changed, or None when nothing did."""
    if isinstance(change, Opened):
        if change.hosted_url is None:
            return None
        stored = links.store_hosted_url(session, invoice_id, change.hosted_url)
        return "hosted invoice URL stored" if stored else None
    if status not in lifecycle.OPEN:  # paid and void are final
        return None
    if isinstance(change, Paid):
        links.update(
            session, invoice_id, step=SyncState.PAID.value, error=None, next_attempt_at=None
        )
        lifecycle.mark_paid(session, invoice_id, change.at or utcnow())
        return "paid"
    if isinstance(change, Voided):
        lifecycle.void(session, invoice_id, change.at or utcnow())
        links.update(session, invoice_id, step=SyncState.VOID.value, next_attempt_at=None)
        return f"voided in {label}"
    if isinstance(change, Declined) and status == InvoiceStatus.ISSUED:
        dunning.record_reported_decline(session, invoice_id, change)
        return "payment failed"
    return None
