"""The one interface every event-log backend implements (see README)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from metering.ledger.eventlog.record import EventRecord, MonthTotals


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page of a customer's events ends: the last (time, event id) returned."""

    occurred_micros: int
    event_id: str


@dataclass(frozen=True, slots=True)
class Page:
    events: list[EventRecord]
    next: Cursor | None


class EventLog(Protocol):
    """Raw events of vendors, idempotent by (vendor, customer, event id), read deduplicated."""

    def write(self, records: Sequence[EventRecord]) -> None:
        """Store a batch; writing an event again (a retry) changes nothing a read sees."""

    def events(
        self, vendor_id: str, customer_id: str, after: Cursor | None = None, limit: int = 100
    ) -> Page:
        """A customer's events by (time, event id), one page after `after`."""

    def stream(
        self, vendor_id: str, customer_ids: Collection[str], start: datetime, end: datetime
    ) -> Iterator[EventRecord]:
        """The customers' events with a cost in [start, end), in no particular order."""

    def digests(self, vendor_id: str, event_ids: Collection[str]) -> dict[str, int]:
        """The `digest` of the content hash of each of these events already stored (what
        tells a retry from a conflicting reuse of an id)."""

    def monthly(self, vendor_id: str, customer_id: str | None = None) -> list[MonthTotals]:
        """Counts and sums per customer and month, sorted by both."""

    def close(self) -> None: ...
