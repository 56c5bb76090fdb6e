"""The events PostgreSQL or SQLite already store, read through the event-log interface.

Read-only: ingestion writes them (`metering.ledger.events`). It is the reference the
ClickHouse backends are checked against (`metering eventlog verify`) and the source of a
backfill. Its monthly figures are added up in Python, exactly, while the rows stream.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from metering.ledger.eventlog.convert import record_of_row
from metering.ledger.eventlog.protocol import Cursor, Page
from metering.ledger.eventlog.record import EventRecord, MonthTotals, digest, totals_of
from metering.ledger.events.models import StoredEvent
from metering.ledger.events.repository import stored_hashes

STREAM_ROWS = 2000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class StoredEventLog:
    """The SQL store of events as an event log (reads only)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def write(self, records: Sequence[EventRecord]) -> None:
        raise NotImplementedError("stored events are written by ingestion, not here")

    def events(
        self, vendor_id: str, customer_id: str, after: Cursor | None = None, limit: int = 100
    ) -> Page:
        statement = select(StoredEvent).where(
            StoredEvent.vendor_id == vendor_id, StoredEvent.customer_id == customer_id
        )
        if after is not None:
            at = EPOCH + timedelta(microseconds=after.occurred_micros)
            statement = statement.where(
                sa.or_(
                    col(StoredEvent.occurred_at) > at,
                    sa.and_(
                        col(StoredEvent.occurred_at) == at,
                        col(StoredEvent.event_id) > after.event_id,
                    ),
                )
            )
        statement = statement.order_by(
            col(StoredEvent.occurred_at), col(StoredEvent.event_id)
        ).limit(limit + 1)
        found = [record_of_row(row) for row in self.session.exec(statement).all()]
        page = found[:limit]
        more = len(found) > limit
        return Page(page, Cursor(page[-1].occurred_micros, page[-1].event_id) if more else None)

    def stream(
        self, vendor_id: str, customer_ids: Collection[str], start: datetime, end: datetime
    ) -> Iterator[EventRecord]:
        statement = sa.select(StoredEvent).where(
            col(StoredEvent.vendor_id) == vendor_id,
            col(StoredEvent.customer_id).in_(sorted(customer_ids)),
            col(StoredEvent.occurred_at) >= start,
            col(StoredEvent.occurred_at) < end,
        )
        result = self.session.execute(statement.execution_options(yield_per=STREAM_ROWS))
        for (row,) in result:
            if row.cost is not None:
                yield record_of_row(row)

    def digests(self, vendor_id: str, event_ids: Collection[str]) -> dict[str, int]:
        found = stored_hashes(self.session, vendor_id, event_ids)
        return {event_id: digest(content_hash) for event_id, content_hash in found.items()}

    def all_events(self, vendor_id: str, customer_id: str | None = None) -> Iterator[EventRecord]:
        """Every stored event of the vendor (or one customer), by customer then id."""
        statement = sa.select(StoredEvent).where(col(StoredEvent.vendor_id) == vendor_id)
        if customer_id is not None:
            statement = statement.where(col(StoredEvent.customer_id) == customer_id)
        statement = statement.order_by(col(StoredEvent.customer_id), col(StoredEvent.event_id))
        result = self.session.execute(statement.execution_options(yield_per=STREAM_ROWS))
        for (row,) in result:
            yield record_of_row(row)

    def monthly(self, vendor_id: str, customer_id: str | None = None) -> list[MonthTotals]:
        return totals_of(self.all_events(vendor_id, customer_id))

    def close(self) -> None:
        """The session belongs to the caller."""
