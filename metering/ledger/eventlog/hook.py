"""What ingestion does for a vendor with the event log: every accepted event is written to
it before the batch is acknowledged, and cost-only events (a cost, no outcome) are stored
only there, idempotent by id like the SQL store (a retry is a duplicate, an id reused with
other content a conflict)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from metering.ledger.eventlog.clickhouse import ClickHouseLog
from metering.ledger.eventlog.config import eventlog_of
from metering.ledger.eventlog.convert import record_of
from metering.ledger.eventlog.record import EventRecord
from metering.ledger.eventlog.transports import EventLogUnavailable
from metering.ledger.events.parsing import EventIn
from metering.ledger.states import EventStatus
from metering.platform.api import problems

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="eventlog")
"""Writes of log-only events that run while the request's SQL transaction works."""


@dataclass(slots=True)
class Logged:
    """The outcome of the log-only events of a batch."""

    stored: list[tuple[int, str, str]] = field(default_factory=list)
    """(index, event id, status) of each new one"""
    duplicates: int = 0
    conflicts: list[tuple[int, str]] = field(default_factory=list)


class Hook:
    """One batch's writes to a vendor's event log."""

    def __init__(self, vendor_id: str, log: ClickHouseLog) -> None:
        self.vendor_id = vendor_id
        self.log = log
        self._held: dict[str, tuple[str, EventIn, int, str | None]] = {}
        self._pending: list[Future[Logged]] = []

    @classmethod
    def of(cls, session: Session, vendor_id: str) -> Hook | None:
        try:
            log = eventlog_of(session, vendor_id)
        except EventLogUnavailable as error:
            raise problems.EVENTLOG_UNAVAILABLE.error(str(error)) from None
        return None if log is None else cls(vendor_id, log)

    @staticmethod
    def keeps_only(status: EventStatus, parsed: EventIn) -> bool:
        """A cost-only event: it carries a cost and makes, reverses or confirms nothing."""
        return status == EventStatus.UNMATCHED and parsed.event.cost is not None

    def hold(
        self, customer_id: str, parsed: EventIn, index: int, plan_version_id: str | None = None
    ) -> None:
        """A log-only event (`plan_version_id`: the version it was matched against)."""
        self._held[parsed.event.id] = (customer_id, parsed, index, plan_version_id)

    @property
    def held(self) -> set[str]:
        """The ids of the batch's log-only events (the SQL store never has them)."""
        return set(self._held)

    def start(self, received_at: datetime) -> None:
        """Write the held log-only events in the background while the SQL store takes the
        others (`received_at`: the request's time, which the event list orders by)."""
        if self._held:
            self._pending.append(_POOL.submit(self._write_held, received_at))

    def took(self, stored: Sequence[tuple[str, EventIn]], received_at: datetime) -> None:
        """Write the (customer id, event) the SQL store just took, in the background while
        it writes their outcomes."""
        records = [record_of(self.vendor_id, c, parsed, received_at) for c, parsed in stored]
        if records:
            self._pending.append(_POOL.submit(self._write, records))

    def finish(self) -> Logged:
        """Wait for the writes: the caller commits (and acknowledges the batch) only when
        the event log has them, and answers 503 when it did not take them."""
        logged = Logged()
        pending, self._pending = self._pending, []
        try:
            for future in pending:
                found = future.result()
                logged.stored += found.stored
                logged.duplicates += found.duplicates
                logged.conflicts += found.conflicts
        except EventLogUnavailable as error:
            raise problems.EVENTLOG_UNAVAILABLE.error(str(error)) from None
        return logged

    def _write(self, records: list[EventRecord]) -> Logged:
        self.log.write(records)
        return Logged()  # the SQL store reports these events

    def _write_held(self, received_at: datetime) -> Logged:
        """The held events the log has not seen (a retry is a duplicate, an id reused
        with other content a conflict), inserted."""
        logged = Logged()
        known = self.log.hashes(self.vendor_id, self._held.keys())
        records = []
        for event_id in sorted(self._held):
            customer_id, parsed, index, plan_version_id = self._held[event_id]
            earlier = known.get(event_id)
            if earlier == parsed.content_hash:
                logged.duplicates += 1
            elif earlier is not None:
                logged.conflicts.append((index, event_id))
            else:
                records.append(
                    record_of(
                        self.vendor_id,
                        customer_id,
                        parsed,
                        received_at,
                        status=EventStatus.UNMATCHED.value,
                        plan_version_id=plan_version_id,
                    )
                )
                logged.stored.append((index, event_id, EventStatus.UNMATCHED.value))
        self.log.write(records)
        return logged
