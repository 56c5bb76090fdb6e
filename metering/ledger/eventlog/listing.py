"""The event API of a vendor with the event log: its list, an event, a void.

The list reads the event log, which holds every accepted event of the vendor (its cost-only
events only there), in the SQL store's order (received time, then event id: a batch stores
its events in id order); an event the SQL store holds too is shown as stored there (status,
void, outcomes). A row of the log the SQL store lacks although it is not log-only is a batch
ClickHouse took but the database did not commit: not accepted, so not listed.

A cost-only event is voided in the log: the same row with a higher version, marked voided,
which every `FINAL` read sees and cost sums leave out; voiding it again changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlmodel import Session, col, select

from metering.ledger.eventlog import tsv
from metering.ledger.eventlog.clickhouse import ClickHouseLog
from metering.ledger.eventlog.record import EventRecord, epoch_micros
from metering.ledger.eventlog.transports import EventLogUnavailable
from metering.ledger.events import repository
from metering.ledger.events.models import EventVoid, StoredEvent
from metering.ledger.states import EventStatus
from metering.platform.api import problems
from metering.platform.api.pagination import decode_cursor, encode_cursor, invalid_cursor
from metering.platform.db import jsontext

SCAN = 1000
"""Rows read at a time while a status filter leaves rows out."""

Listed = tuple[StoredEvent, EventVoid | None]
"""An event as the API shows it: the stored row (or one made from the log) and its void."""


def shown(record: EventRecord) -> Listed:
    """A log-only event as a (transient, never added) stored row and its void."""
    voided = record.voided_at is not None
    event = StoredEvent(
        vendor_id=record.vendor_id,
        event_id=record.event_id,
        type=record.type,
        customer_id=record.customer_id,
        customer_external_id=record.customer_external_id,
        occurred_at=record.occurred_at,
        received_at=record.received_at or record.occurred_at,
        properties=jsontext.loads(record.properties),
        cost=None if record.cost is None else jsontext.loads(record.cost),
        content_hash=record.content_hash,
        status=EventStatus.VOIDED.value if voided else record.status,
        plan_version_id=record.plan_version_id,
    )
    void = None
    if record.voided_at is not None:
        void = EventVoid(event_pk=0, reason=record.void_reason or "", voided_at=record.voided_at)
    return event, void


def _where(where: repository.EventFilter) -> str:
    parts = ["1 = 1"]
    if where.customer_id is not None:
        parts.append(f"customer_id = {tsv.literal(where.customer_id)}")
    if where.type is not None:
        parts.append(f"type = {tsv.literal(where.type)}")
    if where.occurred_from is not None:
        parts.append(f"occurred_micros >= {epoch_micros(where.occurred_from)}")
    if where.occurred_to is not None:
        parts.append(f"occurred_micros < {epoch_micros(where.occurred_to)}")
    return " AND ".join(parts)


def _after(cursor: str | None) -> tuple[int, str] | None:
    if cursor is None:
        return None
    value = decode_cursor(cursor)
    micros, _, event_id = str(value).partition(":")
    if not isinstance(value, str) or not micros.isdigit() or not event_id:
        raise invalid_cursor(cursor, "was not issued by this list")
    return int(micros), event_id


def _stored(session: Session, vendor_id: str, event_ids: Collection[str]) -> dict[str, Listed]:
    if not event_ids:
        return {}
    rows = session.exec(
        select(StoredEvent).where(
            StoredEvent.vendor_id == vendor_id, col(StoredEvent.event_id).in_(sorted(event_ids))
        )
    ).all()
    voided = [row.pk for row in rows if row.pk is not None and row.status == EventStatus.VOIDED]
    voids = repository.voids_of(session, voided)
    return {row.event_id: (row, voids.get(row.pk or 0)) for row in rows}


def list_events(
    session: Session,
    log: ClickHouseLog,
    vendor_id: str,
    where: repository.EventFilter,
    cursor: str | None,
    limit: int,
) -> tuple[list[Listed], str | None]:
    """A page of the vendor's events and the next cursor, as `GET /v1/events` pages."""
    after = _after(cursor)
    condition = _where(where)
    chunk = limit + 1 if where.status is None else max(limit + 1, SCAN)
    found: list[tuple[EventRecord, Listed]] = []
    try:
        while len(found) <= limit:
            records = log.listing(vendor_id, condition, after, chunk)
            stored = _stored(session, vendor_id, [r.event_id for r in records if not r.log_only])
            for record in records:
                listed = shown(record) if record.log_only else stored.get(record.event_id)
                if listed is None:
                    continue  # taken by ClickHouse, not committed by the SQL store
                if where.status is None or listed[0].status == where.status:
                    found.append((record, listed))
            if len(records) < chunk:
                break
            last = records[-1]
            after = (epoch_micros(last.received_at or last.occurred_at), last.event_id)
    except EventLogUnavailable as error:
        raise problems.EVENTLOG_UNAVAILABLE.error(str(error)) from None
    if len(found) <= limit:
        return [listed for _, listed in found], None
    last = found[limit - 1][0]
    micros = epoch_micros(last.received_at or last.occurred_at)
    return [listed for _, listed in found[:limit]], encode_cursor(f"{micros}:{last.event_id}")


def find(log: ClickHouseLog, vendor_id: str, event_id: str) -> EventRecord | None:
    """A log-only event of the vendor (None for any other id)."""
    try:
        record = log.find(vendor_id, event_id)
    except EventLogUnavailable as error:
        raise problems.EVENTLOG_UNAVAILABLE.error(str(error)) from None
    return record if record is not None and record.log_only else None


def void(log: ClickHouseLog, record: EventRecord, reason: str, now: datetime) -> Listed:
    """Void a log-only event (idempotent: a voided one is returned as it is)."""
    if record.voided_at is None and not reason.strip():
        raise problems.INVALID_REQUEST.error("reason: must not be empty")
    try:
        return shown(log.void(record, reason, now))
    except EventLogUnavailable as error:
        raise problems.EVENTLOG_UNAVAILABLE.error(str(error)) from None
