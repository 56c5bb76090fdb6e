"""Queries for events: idempotent bulk inserts, lookups, the filtered listing."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from metering.catalog.customers.models import Customer, CustomerStatus
from metering.ledger.events.models import EventVoid, StoredEvent
from metering.platform.db import bulk
from metering.platform.db.ids import new_id

CHUNK = 1000
EVENTS = StoredEvent.metadata.tables["events"]
CUSTOMERS = Customer.metadata.tables["customers"]


def ensure_customers(
    session: Session, vendor_id: str, external_ids: Collection[str], now: datetime
) -> tuple[dict[str, str], bool]:
    """The ids of the customers with these external ids, keyed by external id, creating
    missing ones as unprovisioned; and whether any was missing."""
    wanted = sorted(set(external_ids))
    found = _customers(session, vendor_id, wanted)
    missing = [external_id for external_id in wanted if external_id not in found]
    if missing:
        rows = [
            {
                "id": new_id("cus"),
                "vendor_id": vendor_id,
                "external_id": external_id,
                "timezone": "UTC",
                "status": CustomerStatus.UNPROVISIONED.value,
                "created_at": now,
                "updated_at": now,
            }
            for external_id in missing
        ]
        bulk.insert_rows(session, CUSTOMERS, rows, skip_conflicts_on=("vendor_id", "external_id"))
        found.update(_customers(session, vendor_id, missing))
    return found, bool(missing)


def hold_subscriptions(session: Session, customer_ids: Collection[str]) -> None:
    """Keep these customers' subscriptions as read until this transaction ends.

    A plan change locks its customer row FOR UPDATE before it re-derives the customer's
    events; FOR KEY SHARE here makes that change wait for batches that matched events under
    the old subscriptions, and makes later batches read the new ones. Locks are taken in id
    order, the order plan changes use. (SQLite has a single writer: nothing to do.)
    """
    if session.get_bind().dialect.name != "postgresql" or not customer_ids:
        return
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), CHUNK):
        bulk.driver_rows(session, _HOLD, bulk.array_text(ids[start : start + CHUNK]))


# The statements every batch runs on PostgreSQL, by psycopg itself (`bulk.driver_rows`).
_HOLD = "SELECT id FROM customers WHERE id = ANY(CAST(%s AS TEXT[])) ORDER BY id FOR KEY SHARE"
_BY_EXTERNAL_ID = (
    "SELECT external_id, id FROM customers "
    "WHERE vendor_id = %s AND external_id = ANY(CAST(%s AS TEXT[]))"
)


def _customers(session: Session, vendor_id: str, external_ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(external_ids), CHUNK):
        if postgres:
            chunk = bulk.array_text(external_ids[start : start + CHUNK])
            found.update(
                (e, i) for e, i in bulk.driver_rows(session, _BY_EXTERNAL_ID, vendor_id, chunk)
            )
            continue
        statement = select(Customer.external_id, Customer.id).where(
            Customer.vendor_id == vendor_id,
            bulk.text_in(session, col(Customer.external_id), external_ids[start : start + CHUNK]),
        )
        found.update(dict(session.exec(statement).all()))
    return found


def insert_new(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert the events whose (vendor, id) is not stored yet; their pks by event id.

    ON CONFLICT DO NOTHING makes concurrent posts of the same event safe: the unique
    constraint lets exactly one insert win, the others see it as already stored. On
    PostgreSQL a batch of new ids goes by plain COPY (`bulk.copy_fresh`).
    """
    if len(rows) >= bulk.COPY_THRESHOLD and session.get_bind().dialect.name == "postgresql":
        keys = bulk.copy_fresh(session, EVENTS, rows, "pk")
        if keys is not None:
            return {row["event_id"]: pk for row, pk in zip(rows, keys, strict=True)}
    inserted = bulk.insert_rows(
        session,
        EVENTS,
        rows,
        skip_conflicts_on=("vendor_id", "event_id"),
        returning=("pk", "event_id"),
    )
    return {event_id: pk for pk, event_id in inserted}


def delete_new(session: Session, pks: Collection[int]) -> None:
    """Take back events this transaction just inserted, before anything refers to them."""
    ordered = sorted(pks)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        session.execute(sa.delete(StoredEvent).where(col(StoredEvent.pk).in_(chunk)))


def stored_hashes(session: Session, vendor_id: str, event_ids: Collection[str]) -> dict[str, str]:
    """The content hash of each of these event ids already stored for the vendor."""
    ids = sorted(event_ids)
    found: dict[str, str] = {}
    for start in range(0, len(ids), CHUNK):
        statement = select(StoredEvent.event_id, StoredEvent.content_hash).where(
            StoredEvent.vendor_id == vendor_id,
            col(StoredEvent.event_id).in_(ids[start : start + CHUNK]),
        )
        found.update(dict(session.exec(statement).all()))
    return found


def by_event_id(session: Session, vendor_id: str, event_id: str) -> StoredEvent | None:
    statement = select(StoredEvent).where(
        StoredEvent.vendor_id == vendor_id, StoredEvent.event_id == event_id
    )
    return session.exec(statement).first()


def void_of(session: Session, event_pk: int) -> EventVoid | None:
    return session.get(EventVoid, event_pk)


def voids_of(session: Session, event_pks: Collection[int]) -> dict[int, EventVoid]:
    if not event_pks:
        return {}
    statement = select(EventVoid).where(col(EventVoid.event_pk).in_(list(event_pks)))
    return {void.event_pk: void for void in session.exec(statement).all()}


@dataclass(frozen=True, slots=True)
class EventFilter:
    customer_id: str | None = None
    type: str | None = None
    status: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


def listing(vendor_id: str, where: EventFilter) -> SelectOfScalar[StoredEvent]:
    """The vendor's events matching `where` (time range: from inclusive, to exclusive)."""
    statement = select(StoredEvent).where(StoredEvent.vendor_id == vendor_id)
    if where.customer_id is not None:
        statement = statement.where(StoredEvent.customer_id == where.customer_id)
    if where.type is not None:
        statement = statement.where(StoredEvent.type == where.type)
    if where.status is not None:
        statement = statement.where(StoredEvent.status == where.status)
    if where.occurred_from is not None:
        statement = statement.where(col(StoredEvent.occurred_at) >= where.occurred_from)
    if where.occurred_to is not None:
        statement = statement.where(col(StoredEvent.occurred_at) < where.occurred_to)
    return statement
