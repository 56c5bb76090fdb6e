"""Event-log records from what ingestion parsed and from stored event rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from metering.ledger.eventlog.record import EventRecord
from metering.ledger.events.parsing import EventIn
from metering.platform.db import jsontext


def record_of(
    vendor_id: str,
    customer_id: str,
    parsed: EventIn,
    received_at: datetime | None = None,
    status: str = "",
    plan_version_id: str | None = None,
) -> EventRecord:
    """The record of an event ingestion accepted (its JSON as ingestion encoded it);
    `status` "unmatched" for a log-only one (the SQL store has the others' status)."""
    event = parsed.event
    return EventRecord(
        vendor_id=vendor_id,
        customer_id=customer_id,
        customer_external_id=event.customer,
        event_id=event.id,
        type=event.type,
        occurred_at=event.timestamp,
        properties=str(parsed.properties_json),
        cost=None if parsed.cost_json is None else str(parsed.cost_json),
        content_hash=parsed.content_hash,
        received_at=received_at,
        status=status,
        plan_version_id=plan_version_id,
    )


def record_of_row(row: Any) -> EventRecord:
    """The record of a stored event row (a `StoredEvent` or a row with its columns)."""
    cost = row.cost
    return EventRecord(
        vendor_id=row.vendor_id,
        customer_id=row.customer_id,
        customer_external_id=row.customer_external_id,
        event_id=row.event_id,
        type=row.type,
        occurred_at=row.occurred_at,
        properties=jsontext.dumps(row.properties or {}),
        cost=None if cost is None else jsontext.dumps(cost),
        content_hash=row.content_hash,
        received_at=row.received_at,
    )
