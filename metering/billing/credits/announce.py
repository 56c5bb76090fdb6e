"""`credits.granted`: a grant became usable (made active, or its purchase invoice paid),
announced in the transaction that activates it (the outbox)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from metering.billing.credits.models import CreditGrant
from metering.catalog.customers.models import Customer
from metering.platform.outbox.models import EventType
from metering.platform.outbox.service import enqueue
from pricing_rules.engine import money_text
from pricing_rules.money import minor_units


def grant_data(session: Session, grant: CreditGrant) -> dict[str, Any]:
    customer = session.get(Customer, grant.customer_id)
    assert customer is not None
    return {
        "grant": grant.id,
        "customer_id": grant.customer_id,
        "customer": customer.external_id,
        "currency": grant.currency,
        "amount": money_text(grant.amount, minor_units(grant.currency)),
        "category": grant.category,
        "name": grant.name,
        "effective_at": grant.effective_at,
        "expires_at": grant.expires_at,
        "purchase_invoice_id": grant.purchase_invoice_id,
    }


def announce_granted(session: Session, grant: CreditGrant) -> None:
    enqueue(session, grant.vendor_id, EventType.CREDITS_GRANTED.value, grant_data(session, grant))
