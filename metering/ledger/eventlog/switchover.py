"""Switching a vendor over: copy its stored events into the event log (resumable), and
compare the two stores' counts and sums per customer and month."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col

from metering.ledger.eventlog import tsv
from metering.ledger.eventlog.clickhouse import ClickHouseLog
from metering.ledger.eventlog.convert import record_of_row
from metering.ledger.eventlog.record import EventRecord, MonthTotals
from metering.ledger.eventlog.stored import StoredEventLog
from metering.ledger.events.models import StoredEvent

BATCH = 5000
CHECKPOINTS = "metering_eventlog_backfill"
Progress = Callable[[int, int], None]
"""Called with (events copied so far, events to copy in all)."""


def _checkpoint_table(log: ClickHouseLog) -> None:
    log.transport.execute(
        f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (vendor_id String, customer_id String, "
        "event_id String, done UInt64, saved UInt64) ENGINE = ReplacingMergeTree(saved) "
        "ORDER BY vendor_id"
    )


def checkpoint(log: ClickHouseLog, vendor_id: str) -> tuple[str, str, int] | None:
    """The last (customer id, event id) a backfill of the vendor copied, and how many."""
    _checkpoint_table(log)
    sql = (
        f"SELECT customer_id, event_id, done FROM {CHECKPOINTS} FINAL "
        f"WHERE vendor_id = {tsv.literal(vendor_id)} FORMAT TabSeparated"
    )
    for customer_id, event_id, done in tsv.parse(log.transport.execute(sql)):
        return str(customer_id), str(event_id), int(done or 0)
    return None


def _save(log: ClickHouseLog, vendor_id: str, last: EventRecord, done: int) -> None:
    log.transport.execute(
        f"INSERT INTO {CHECKPOINTS} (vendor_id, customer_id, event_id, done, saved) "
        "FORMAT TabSeparated",
        tsv.rows_text(
            [[vendor_id, last.customer_id, last.event_id, str(done), str(time.time_ns())]]
        ),
    )


def _after(vendor_id: str, after: tuple[str, str] | None) -> sa.ColumnElement[bool]:
    where = col(StoredEvent.vendor_id) == vendor_id
    if after is None:
        return where
    customer_id, event_id = after
    return sa.and_(
        where,
        sa.or_(
            col(StoredEvent.customer_id) > customer_id,
            sa.and_(
                col(StoredEvent.customer_id) == customer_id, col(StoredEvent.event_id) > event_id
            ),
        ),
    )


def _rows(session: Session, vendor_id: str, after: tuple[str, str] | None) -> Iterator[EventRecord]:
    statement = (
        sa.select(StoredEvent)
        .where(_after(vendor_id, after))
        .order_by(col(StoredEvent.customer_id), col(StoredEvent.event_id))
    )
    for (row,) in session.execute(statement.execution_options(yield_per=BATCH)):
        yield record_of_row(row)


def backfill(
    session: Session,
    log: ClickHouseLog,
    vendor_id: str,
    progress: Progress | None = None,
    restart: bool = False,
    batch: int = BATCH,
) -> int:
    """Copy the vendor's stored events into the event log, `batch` at a time in key order,
    saving a checkpoint after each; a run that stopped goes on from its checkpoint (writes
    are idempotent, so a batch written twice changes nothing). The events copied by this run."""
    saved = None if restart else checkpoint(log, vendor_id)
    after = None if saved is None else (saved[0], saved[1])
    done = 0 if saved is None else saved[2]
    total_sql = sa.select(sa.func.count()).where(col(StoredEvent.vendor_id) == vendor_id)
    total = int(session.execute(total_sql).scalar_one())
    copied = 0
    pending: list[EventRecord] = []

    def flush() -> None:
        nonlocal done, copied
        log.write(pending)
        done += len(pending)
        copied += len(pending)
        _save(log, vendor_id, pending[-1], done)
        pending.clear()
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(done, total)
    for record in _rows(session, vendor_id, after):
        pending.append(record)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return copied


@dataclass(frozen=True, slots=True)
class MonthCheck:
    """One customer's month in both stores; `stored` or `logged` None when it has none."""

    customer_id: str
    month: str
    stored: MonthTotals | None
    logged: MonthTotals | None

    @property
    def matches(self) -> bool:
        if self.stored is None or self.logged is None:
            return self.stored is self.logged
        return self.stored.comparable() == self.logged.comparable()


def verify(session: Session, log: ClickHouseLog, vendor_id: str) -> list[MonthCheck]:
    """Every customer month of the vendor with the figures of each store."""
    stored = {(t.customer_id, t.month): t for t in StoredEventLog(session).monthly(vendor_id)}
    logged = {(t.customer_id, t.month): t for t in log.monthly(vendor_id)}
    return [
        MonthCheck(key[0], key[1], stored.get(key), logged.get(key))
        for key in sorted(stored.keys() | logged.keys())
    ]
