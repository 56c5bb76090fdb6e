"""The outbox: an event becomes delivery rows in the transaction of the change it reports.

Whatever writes an invoice's issue, a payment or an alert firing calls `enqueue` before its
commit; the delivery job sends the rows later. So an event exists exactly when its change
was committed, and sending it never holds a database transaction open on a slow receiver.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from metering.db import jsontext
from metering.db.ids import new_id
from metering.db.types import utcnow
from metering.settings import get_settings
from metering.webhooks_out.models import EventType, WebhookDelivery, WebhookEndpoint

EVENT_TYPES = frozenset(event.value for event in EventType)


def envelope(event_id: str, event_type: str, data: dict[str, Any]) -> str:
    """The body every attempt sends: `{"id", "type", "timestamp", "data"}` as JSON text.

    Callers pass amounts as decimal strings (exact in any JSON parser); datetimes become
    UTC ISO 8601. Keys keep the callers' order, for a receiver reading the payload.
    """
    return jsontext.dumps(
        {"id": event_id, "type": event_type, "timestamp": utcnow(), "data": data},
        sort_keys=False,
    )


def enqueue(session: Session, vendor_id: str, event_type: str, data: dict[str, Any]) -> None:
    """One pending delivery per enabled endpoint of the vendor subscribed to `event_type`.

    Runs in the caller's transaction and commits nothing. The event gets one id (`evt_...`)
    shared by its deliveries: it is the `webhook-id` every attempt sends, so a receiver can
    drop a delivery it has already handled.
    """
    if event_type not in EVENT_TYPES:
        expected = ", ".join(sorted(EVENT_TYPES))
        raise ValueError(f"unknown event type {event_type!r}; expected one of {expected}")
    endpoints = session.exec(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.vendor_id == vendor_id, col(WebhookEndpoint.enabled).is_(True))
        .order_by(col(WebhookEndpoint.id))
    ).all()
    subscribed = [endpoint for endpoint in endpoints if event_type in endpoint.event_types]
    if not subscribed:
        return
    event_id = new_id("evt")
    payload = envelope(event_id, event_type, data)
    now = utcnow()
    give_up_at = now + get_settings().webhook_retry_window
    for endpoint in subscribed:
        session.add(
            WebhookDelivery(
                id=new_id("whd"),
                vendor_id=vendor_id,
                endpoint_id=endpoint.id,
                event_id=event_id,
                event_type=event_type,
                payload=payload,
                next_attempt_at=now,
                give_up_at=give_up_at,
                created_at=now,
            )
        )
    session.flush()
