"""Event-log records from what ingestion parsed and from stored event rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from metering.ledger.eventlog import tsv
from metering.ledger.eventlog.clickhouse import ClickHouseLog, micros_text
from metering.ledger.eventlog.record import EventRecord, cost_parts_of, digest, epoch_micros
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


def event_lines(
    vendor_id: str,
    received_at: datetime,
    status: str,
    events: Iterable[tuple[str, EventIn, str | None]],
) -> list[str]:
    """The `ClickHouseLog.rows` (its row and its id row) of the `record_of` each (customer
    id, event, plan version id), made without the records: the same text (tested) in 40%
    of the time, for every event ingestion writes to the log. (`CostNotStorable` as
    `line`.)"""
    head = tsv.field(vendor_id) + "\t"
    received = micros_text(received_at)
    tails: dict[str | None, str] = {}
    lines = []
    for customer_id, parsed, plan_version_id in events:
        event = parsed.event
        parts = cost_parts_of(event.cost)
        properties, cost = str(parsed.properties_json), parsed.cost_json
        # The cost's JSON holds its model and currency (a character to escape there is
        # escaped in JSON with a backslash): one search covers every text of the row.
        texts = (customer_id, event.customer, event.id, event.type, properties, cost or "")
        if not tsv.plain("".join(texts)):  # rare: the general way escapes each value
            record = record_of(vendor_id, customer_id, parsed, received_at, status, plan_version_id)
            lines.append(ClickHouseLog.rows(record, parts=parts))
            continue
        tail = tails.get(plan_version_id)
        if tail is None:
            version = tsv.field(plan_version_id or "")
            tail = tails[plan_version_id] = f"{received}\t{status}\t{version}\t0\t\t0\t0\n"
        amount = "0" if parts.amount is None else format(parts.amount, "f")
        micros = epoch_micros(event.timestamp)
        when = f"{micros // 1_000_000}\t{micros}\t"
        lines.append(
            f"{head}{customer_id}\t{event.customer}\t{event.id}\t{event.type}\t{when}"
            f"{parts.model or ''}\t"
            f"{parts.input_tokens}\t{parts.output_tokens}\t{amount}\t"
            f"{parts.currency or ''}\t{properties}\t{cost or ''}\t0\t{tail}"
            f"{head}\t{customer_id}\t{event.id}\t\t{when}\t0\t0\t0\t\t\t\t"
            f"{digest(parsed.content_hash)}\t0\t{status}\t\t0\t\t0\t0\n"
        )
    return lines


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
