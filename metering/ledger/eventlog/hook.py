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
        self._pending: Future[Logged] | None = None

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

    def start(self, received_at: datetime) -> None:
        """Write the held log-only events in the background while the SQL store takes the
        others (`received_at`: the request's time, which the event list orders by); `write`
        waits for it, so the batch is still acknowledged only when both stores have it."""
        if self._held:
            self._pending = _POOL.submit(self._write_held, received_at)

    def write(
        self, stored: Sequence[tuple[str, EventIn]], received_at: datetime | None = None
    ) -> Logged:
        """Write the events the SQL store took, and the held log-only ones that are new
        (unless `start` is writing them)."""
        try:
            pending, self._pending = self._pending, None
            logged = self._write_held(received_at) if pending is None else pending.result()
            self.log.write([record_of(self.vendor_id, c, p, received_at) for c, p in stored])
        except EventLogUnavailable as error:
            raise problems.EVENTLOG_UNAVAILABLE.error(str(error)) from None
        return logged

    def _write_held(self, received_at: datetime | None) -> Logged:
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
