"""The outbox: an event becomes delivery rows in the transaction of the change it reports.

Whatever writes an invoice's issue, a payment or an alert firing calls `enqueue` before its
commit; the delivery job sends the rows later. So an event exists exactly when its change
was committed, and sending it never holds a database transaction open on a slow receiver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session

from metering.platform.db import jsontext
from metering.platform.db.ids import new_id
from metering.platform.db.types import utcnow
from metering.platform.outbox.models import (
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
)
from metering.platform.settings import get_settings

EVENT_TYPES = frozenset(event.value for event in EventType)
ENDPOINTS: sa.Table = WebhookEndpoint.__table__  # type: ignore[attr-defined]
DELIVERIES: sa.Table = WebhookDelivery.__table__  # type: ignore[attr-defined]


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
    enqueue_many(session.connection(), vendor_id, event_type, [data])


def subscribed_endpoints(connection: Connection, vendor_id: str, event_type: str) -> list[str]:
    """Ids of the vendor's enabled endpoints that take `event_type` (a vendor has a few)."""
    e = ENDPOINTS.c
    rows = connection.execute(
        sa.select(e.id, e.event_types)
        .where(e.vendor_id == vendor_id, e.enabled.is_(True))
        .order_by(e.id)
    )
    return [endpoint_id for endpoint_id, types in rows if event_type in (types or [])]


def enqueue_many(
    connection: Connection, vendor_id: str, event_type: str, items: Sequence[dict[str, Any]]
) -> int:
    """`enqueue` for several events of one type (a close issues many invoices), on the
    caller's connection and transaction; the number of deliveries written."""
    if event_type not in EVENT_TYPES:
        expected = ", ".join(sorted(EVENT_TYPES))
        raise ValueError(f"unknown event type {event_type!r}; expected one of {expected}")
    endpoint_ids = subscribed_endpoints(connection, vendor_id, event_type)
    if not endpoint_ids or not items:
        return 0
    now = utcnow()
    give_up_at = now + get_settings().webhook_retry_window
    rows: list[dict[str, Any]] = []
    for data in items:
        event_id = new_id("evt")
        payload = envelope(event_id, event_type, data)
        rows.extend(
            {
                "id": new_id("whd"),
                "vendor_id": vendor_id,
                "endpoint_id": endpoint_id,
                "event_id": event_id,
                "event_type": event_type,
                "payload": payload,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "lease_owner": None,
                "give_up_at": give_up_at,
                "last_error": None,
                "created_at": now,
                "delivered_at": None,
            }
            for endpoint_id in endpoint_ids
        )
    connection.execute(sa.insert(DELIVERIES), rows)
    return len(rows)
