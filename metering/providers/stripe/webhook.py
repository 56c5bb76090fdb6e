"""What a Stripe webhook event does to our invoice.

Deliveries repeat and arrive out of order: each event id is applied once (`stripe_events`),
and an invoice never moves back from paid or void, so a late `invoice.payment_failed` after
`invoice.paid`, or any event after a void, changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from metering.billing.invoices.announce import announce_if_moved
from metering.billing.invoices.models import Invoice, InvoiceStatus, SyncState
from metering.platform.db.types import utcnow
from metering.providers.stripe.models import StripeEventSeen

HANDLED = (
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.voided",
    "invoice.finalized",
)
OPEN = (InvoiceStatus.ISSUED, InvoiceStatus.PAYMENT_FAILED)


@dataclass(frozen=True)
class WebhookOutcome:
    """`applied`: our invoice changed; `duplicate`: this event id was applied before."""

    event_id: str
    type: str
    invoice_id: str | None
    applied: bool
    duplicate: bool
    detail: str


def _moment(stamp: Any, default: datetime) -> datetime:
    return datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int) else default


def find_invoice(session: Session, stripe_invoice: dict[str, Any]) -> Invoice | None:
    """Ours, by the Stripe id we stored or, if the sync never stored it, by our metadata."""
    stripe_id = stripe_invoice.get("id")
    if isinstance(stripe_id, str):
        found = session.exec(select(Invoice).where(col(Invoice.stripe_invoice_id) == stripe_id))
        invoice = found.first()
        if invoice is not None:
            return invoice
    ours = (stripe_invoice.get("metadata") or {}).get("metering_invoice_id")
    return session.get(Invoice, ours) if isinstance(ours, str) else None


def apply_event(
    session: Session, event_id: str, event_type: str, stripe_object: dict[str, Any]
) -> WebhookOutcome:
    """Record the event and update our invoice; the caller commits (a concurrent duplicate
    then fails on the `stripe_events` key and changes nothing)."""
    if session.get(StripeEventSeen, event_id) is not None:
        ours = find_invoice(session, stripe_object) if "id" in stripe_object else None
        invoice_id = ours.id if ours is not None else None
        return WebhookOutcome(event_id, event_type, invoice_id, False, True, "already applied")
    is_invoice = event_type.startswith("invoice.") and stripe_object.get("object") == "invoice"
    session.add(
        StripeEventSeen(
            id=event_id,
            type=event_type,
            stripe_invoice_id=stripe_object.get("id") if is_invoice else None,
        )
    )
    if event_type not in HANDLED or not is_invoice:
        return WebhookOutcome(event_id, event_type, None, False, False, "not an event we use")
    invoice = find_invoice(session, stripe_object)
    if invoice is None:
        return WebhookOutcome(event_id, event_type, None, False, False, "not one of our invoices")
    detail = _apply(invoice, event_type, stripe_object)
    applied = detail is not None
    if applied:
        invoice.updated_at = utcnow()
        session.add(invoice)
        announce_if_moved(session, invoice)
    return WebhookOutcome(
        event_id, event_type, invoice.id, applied, False, detail or f"invoice is {invoice.status}"
    )


def _apply(invoice: Invoice, event_type: str, stripe_object: dict[str, Any]) -> str | None:
    """Change the invoice for the event; what changed, or None when nothing did."""
    transitions = stripe_object.get("status_transitions") or {}
    if invoice.stripe_invoice_id is None and isinstance(stripe_object.get("id"), str):
        invoice.stripe_invoice_id = stripe_object["id"]
    if event_type == "invoice.finalized":
        url = stripe_object.get("hosted_invoice_url")
        if invoice.stripe_hosted_url is None and isinstance(url, str):
            invoice.stripe_hosted_url = url
            return "hosted invoice URL stored"
        return None
    if invoice.status not in OPEN:  # paid and void are final
        return None
    if event_type in ("invoice.paid", "invoice.payment_succeeded"):
        invoice.status = InvoiceStatus.PAID.value
        invoice.paid_at = _moment(transitions.get("paid_at"), utcnow())
        invoice.sync_state = SyncState.PAID.value
        invoice.sync_error = None
        invoice.next_sync_at = None
        return "paid"
    if event_type == "invoice.voided":
        invoice.status = InvoiceStatus.VOID.value
        invoice.voided_at = _moment(transitions.get("voided_at"), utcnow())
        invoice.sync_state = SyncState.VOID.value
        invoice.next_sync_at = None
        return "voided in Stripe"
    if event_type == "invoice.payment_failed" and invoice.status == InvoiceStatus.ISSUED:
        invoice.status = InvoiceStatus.PAYMENT_FAILED.value
        attempts = stripe_object.get("attempt_count")
        invoice.sync_error = f"Stripe reported a failed payment (attempt {attempts})"
        return "payment failed"
    return None
