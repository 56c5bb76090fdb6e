"""Stripe's webhook deliveries: verified, read as provider events, each applied once.

Stripe signs each delivery (`Stripe-Signature`, the endpoint's secret); an event id already
applied (`stripe_events`) changes nothing again. What an event does to our invoice is the
provider-neutral `payments.webhooks`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlmodel import Session

from metering.billing.payments import webhooks
from metering.billing.payments.protocol import (
    Declined,
    InvoiceChange,
    Opened,
    Paid,
    PaymentMethodAdded,
    ProviderEvent,
    Voided,
    WebhookRejected,
)
from metering.billing.payments.webhooks import WebhookOutcome
from metering.providers.stripe.models import StripeEventSeen

PROVIDER = "stripe"
LABEL = "Stripe"


def _moment(stamp: Any) -> datetime | None:
    return datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int) else None


def _change(event_type: str, stripe_invoice: dict[str, Any]) -> InvoiceChange | None:
    """What the event says happened to the invoice; None for events we do not use."""
    transitions = stripe_invoice.get("status_transitions") or {}
    if event_type in ("invoice.paid", "invoice.payment_succeeded"):
        return Paid(_moment(transitions.get("paid_at")))
    if event_type == "invoice.voided":
        return Voided(_moment(transitions.get("voided_at")))
    if event_type == "invoice.payment_failed":
        attempts = stripe_invoice.get("attempt_count")
        return Declined(f"Stripe reported a failed payment (attempt {attempts})")
    if event_type == "invoice.finalized":
        url = stripe_invoice.get("hosted_invoice_url")
        return Opened(url if isinstance(url, str) else None)
    return None


# Events that say a customer added a payment method: a Checkout Session in setup mode
# completed, or a SetupIntent succeeded (both come for one session; applying both is harmless).
PAYMENT_METHOD_EVENTS = ("checkout.session.completed", "setup_intent.succeeded")


def _payment_method_added(
    event_type: str, stripe_object: dict[str, Any]
) -> PaymentMethodAdded | None:
    """The customer and SetupIntent of a payment method added; None for another event (a
    Checkout Session in payment or subscription mode)."""
    customer = stripe_object.get("customer")
    if event_type == "checkout.session.completed":
        setup = stripe_object.get("setup_intent") if stripe_object.get("mode") == "setup" else None
    else:
        setup = stripe_object.get("id")
    if isinstance(customer, str) and isinstance(setup, str):
        return PaymentMethodAdded(customer, setup)
    return None


def event_of(event_id: str, event_type: str, stripe_object: dict[str, Any]) -> ProviderEvent:
    """The provider event of a Stripe event whose `data.object` is `stripe_object`."""
    if event_type in PAYMENT_METHOD_EVENTS:
        added = _payment_method_added(event_type, stripe_object)
        return ProviderEvent(event_id, event_type, None, None, None, added)
    if not (event_type.startswith("invoice.") and stripe_object.get("object") == "invoice"):
        return ProviderEvent(event_id, event_type, None, None, None)
    stripe_id = stripe_object.get("id")
    ours = (stripe_object.get("metadata") or {}).get("metering_invoice_id")
    return ProviderEvent(
        event_id,
        event_type,
        stripe_id if isinstance(stripe_id, str) else None,
        ours if isinstance(ours, str) else None,
        _change(event_type, stripe_object),
    )


def parse(payload: bytes, headers: Mapping[str, str], secret: str, tolerance: int) -> ProviderEvent:
    """The event of a delivery, once its signature verifies (`WebhookRejected` otherwise)."""
    try:
        event = stripe.Webhook.construct_event(
            payload, headers.get("stripe-signature"), secret, tolerance=tolerance
        )
    except stripe.SignatureVerificationError as error:
        raise WebhookRejected(
            f"Stripe-Signature does not verify: {error.user_message or error}"
        ) from None
    except ValueError:
        raise WebhookRejected("The body is not a Stripe event (invalid JSON).") from None
    body = json.loads(payload)
    data = (body.get("data") or {}).get("object") or {}
    return event_of(str(event.id), str(event.type), data)


def seen(session: Session, event: ProviderEvent) -> bool:
    return session.get(StripeEventSeen, event.id) is not None


def record(session: Session, event: ProviderEvent) -> None:
    """The event is applied (the caller commits; a concurrent duplicate fails on the key)."""
    session.add(
        StripeEventSeen(id=event.id, type=event.type, stripe_invoice_id=event.external_invoice_id)
    )
    session.flush()


def apply_event(session: Session, event: ProviderEvent) -> WebhookOutcome:
    """Record the event and update our invoice; the caller commits (a concurrent duplicate
    then fails on the `stripe_events` key and changes nothing)."""
    if seen(session, event):
        ours = webhooks.find_invoice(session, PROVIDER, event)
        invoice_id = ours[0] if ours is not None else None
        return WebhookOutcome(event.id, event.type, invoice_id, False, True, "already applied")
    record(session, event)
    return webhooks.apply_event(session, PROVIDER, LABEL, event)
