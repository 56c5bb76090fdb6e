"""What ingestion does for a vendor with the event log: every accepted event is written to
it before the batch is acknowledged, and cost-only events (a cost, no outcome) are stored
only there, idempotent by id like the SQL store (a retry is a duplicate, an id reused with
other content a conflict)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.ledger.eventlog.clickhouse import ClickHouseLog
from metering.ledger.eventlog.config import eventlog_of
from metering.ledger.eventlog.convert import event_lines
from metering.ledger.eventlog.transports import EventLogUnavailable
from metering.ledger.eventlog.writer import Held, Logged, Writer
from metering.ledger.events.parsing import EventIn
from metering.ledger.states import EventStatus
from metering.platform.api import problems


class Hook:
    """One batch's writes to a vendor's event log."""

    def __init__(self, vendor_id: str, log: ClickHouseLog, engine: Engine | None = None) -> None:
        """`engine`: the SQL store's (its advisory locks order writers across processes)."""
        self.vendor_id = vendor_id
        self.log = log
        self.engine = engine
        self._held: dict[str, tuple[str, EventIn, int, str | None]] = {}
        self._rows: list[Held] = []
        self._pending: list[Future[Logged]] = []
        self._writer = Writer.of(log)

    @classmethod
    def of(cls, session: Session, vendor_id: str) -> Hook | None:
        try:
            log = eventlog_of(session, vendor_id)
        except EventLogUnavailable as error:
            raise problems.EVENTLOG_UNAVAILABLE.error(str(error)) from None
        if log is None:
            return None
        bind = session.get_bind()
        return cls(vendor_id, log, bind if isinstance(bind, Engine) else bind.engine)

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
        """Turn the held log-only events into rows (`received_at`: the request's time, which
        the event list orders by) while nothing waits on ClickHouse yet; `took` queues them."""
        ordered = sorted(self._held)  # the first of two reuses of an id wins
        held = [self._held[event_id] for event_id in ordered]
        lines = event_lines(
            self.vendor_id,
            received_at,
            EventStatus.UNMATCHED.value,
            [(customer_id, parsed, version) for customer_id, parsed, _, version in held],
        )
        self._rows += [
            Held(parsed.event.id, parsed.content_hash, line, index)
            for (_, parsed, index, _), line in zip(held, lines, strict=True)
        ]

    def took(self, stored: Sequence[tuple[str, EventIn, int]], received_at: datetime) -> None:
        """Queue the held rows and the (customer id, event, index) the SQL store just took
        as new, as one job: a request costs ClickHouse at most one INSERT (in a shared
        pass)."""
        lines = event_lines(
            self.vendor_id,
            received_at,
            "",
            [(customer_id, parsed, None) for customer_id, parsed, _ in stored],
        )
        new = [
            Held(parsed.event.id, parsed.content_hash, line, index)
            for (_, parsed, index), line in zip(stored, lines, strict=True)
        ]
        held, self._rows = self._rows, []
        if held or new:
            self._pending.append(self._writer.submit(self.vendor_id, held, new, self.engine))

    def finish(self) -> Logged:
        """Wait for the writes: the caller commits (and acknowledges the batch) only when
        the event log has them, and answers 503 when it did not take them. The caller
        takes back the SQL store's new events the log `clashes` with."""
        logged = Logged()
        pending, self._pending = self._pending, []
        try:
            for future in pending:
                logged.add(future.result())
        except EventLogUnavailable as error:
            raise problems.EVENTLOG_UNAVAILABLE.error(str(error)) from None
        return logged
