"""Group commit into the event log: the writes of a process's concurrent requests go in one
pass, one lookup of content digests per vendor and one INSERT for all of them.

An INSERT into the MergeTree table costs ClickHouse a new part (tens of milliseconds of
server CPU on 18.16, then merges) whatever its size, so a process that inserts each
request's events on its own spends most of ClickHouse's time on parts. Here a request
queues its rows and waits for the pass that writes them; while a pass runs, the next
requests queue, and the following pass takes them all. Each request still gets its own
answer (new, duplicate, conflict) and is acknowledged only once its rows are in, and ids
reused within one pass are told apart as across passes (the first one queued wins).

Passes of the same vendor take turns across processes (a PostgreSQL advisory lock held
from the id lookup to the end of the INSERT, on a connection of the writers' own): without
it, two processes given one id with different content at the same moment would both look
it up, both find nothing and both store it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.ledger.eventlog.clickhouse import ClickHouseLog
from metering.ledger.eventlog.record import digest
from metering.ledger.states import EventStatus
from metering.platform.db.engine import make_engine
from metering.platform.db.locks import lock_names

UNMATCHED = EventStatus.UNMATCHED.value


class Held(NamedTuple):  # a tuple: made for every event a vendor with the log sends
    """An event of a request for the log: a log-only one, written unless the log has its
    id already; or one the SQL store just took as new, written unless the log holds its id
    as a log-only event (a clash the request undoes)."""

    event_id: str
    content_hash: str
    rows: str
    """its TabSeparated rows (`ClickHouseLog.rows`: the event's and its id row)"""
    item: int
    """its index in the request's items"""


@dataclass(slots=True)
class Logged:
    """What became of a request's log-only events."""

    stored: list[tuple[int, str, str]] = field(default_factory=list)
    """(index, event id, status) of each new one"""
    duplicates: list[tuple[int, str]] = field(default_factory=list)
    """(index, event id) of each one the log held with the same content"""
    conflicts: list[tuple[int, str]] = field(default_factory=list)
    clashes: dict[str, bool] = field(default_factory=dict)
    """event id -> same content, of the events the SQL store took as new whose id the log
    already holds as a log-only event: not written; the request takes them back and
    answers them as duplicates (same content) or conflicts"""

    def add(self, other: Logged) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.conflicts += other.conflicts
        self.clashes |= other.clashes


@dataclass(slots=True)
class _Job:
    vendor_id: str
    held: Sequence[Held]
    """log-only events"""
    stored: Sequence[Held]
    """events the SQL store took as new"""
    engine: Engine | None
    """the SQL store's, whose advisory locks give each vendor's passes their turns"""
    future: Future[Logged] = field(default_factory=Future)


_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="eventlog")
_WRITERS: weakref.WeakKeyDictionary[ClickHouseLog, Writer] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()
_TURN_ENGINES: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


class Writer:
    """The one writer of an event log in this process."""

    def __init__(self, log: ClickHouseLog) -> None:
        self.log = log
        self._queue: list[_Job] = []
        self._busy = False
        self._lock = threading.Lock()

    @staticmethod
    def of(log: ClickHouseLog) -> Writer:
        with _WRITERS_LOCK:
            found = _WRITERS.get(log)
            if found is None:
                found = _WRITERS[log] = Writer(log)
            return found

    def submit(
        self,
        vendor_id: str,
        held: Sequence[Held],
        stored: Sequence[Held],
        engine: Engine | None = None,
    ) -> Future[Logged]:
        """Queue a request's rows (`engine`: the SQL store's); the future fails with
        `EventLogUnavailable` when ClickHouse did not take the pass."""
        job = _Job(vendor_id, held, stored, engine)
        with self._lock:
            self._queue.append(job)
            if not self._busy:
                self._busy = True
                _POOL.submit(self._drain)
        return job.future

    def _drain(self) -> None:
        while True:
            with self._lock:
                jobs, self._queue = self._queue, []
                if not jobs:
                    self._busy = False
                    return
            try:
                results = self._pass(jobs)
            except BaseException as error:  # every waiting request fails, none hangs
                for job in jobs:
                    job.future.set_exception(error)
                continue
            for job, logged in zip(jobs, results, strict=True):
                job.future.set_result(logged)

    def _joining(self, vendors: Collection[str]) -> list[_Job]:
        """The jobs of these vendors queued since the pass took its own, in queue order."""
        with self._lock:
            joining = [job for job in self._queue if job.vendor_id in vendors]
            self._queue = [job for job in self._queue if job.vendor_id not in vendors]
        return joining

    def _pass(self, jobs: list[_Job]) -> list[Logged]:
        """One lookup and one INSERT for `jobs`, to which the jobs of the same vendors that
        were queued while the pass waited for its turn are added (another process's pass
        held it): bigger passes, fewer parts for ClickHouse to make and merge."""
        lines: list[str] = []
        vendors = list(dict.fromkeys(job.vendor_id for job in jobs))
        with _turns(next((job.engine for job in jobs if job.engine), None), vendors):
            jobs += self._joining(vendors)  # `_drain` answers them with the others
            results = [Logged() for _ in jobs]
            for vendor_id in vendors:
                mine = [
                    (job, logged)
                    for job, logged in zip(jobs, results, strict=True)
                    if job.vendor_id == vendor_id
                ]
                ids = {held.event_id for job, _ in mine for held in (*job.held, *job.stored)}
                known = self.log.seen(vendor_id, ids)
                for job, logged in mine:
                    _settle(job, logged, known, lines)
            self.log.write_text("".join(lines))
        return results


def _settle(
    job: _Job,
    logged: Logged,
    known: dict[str, tuple[int, bool]],
    lines: list[str],
) -> None:
    """Answer a job's events against what the log holds (`known`, which the job's new rows
    join) and add the rows to write to `lines`."""
    for held in job.held:
        earlier = known.get(held.event_id)
        content = digest(held.content_hash)
        if earlier is None:
            known[held.event_id] = (content, True)
            lines.append(held.rows)
            logged.stored.append((held.item, held.event_id, UNMATCHED))
        elif earlier[0] == content:
            logged.duplicates.append((held.item, held.event_id))
        else:
            logged.conflicts.append((held.item, held.event_id))
    for new in job.stored:
        earlier = known.get(new.event_id)
        content = digest(new.content_hash)
        if earlier is not None and earlier[1]:
            logged.clashes[new.event_id] = earlier[0] == content
        else:  # a row of an SQL event the log has is an earlier try of it: written again
            known[new.event_id] = (content, False)
            lines.append(new.rows)


@contextmanager
def _turns(engine: Engine | None, vendor_ids: Collection[str]) -> Iterator[None]:
    """The vendors' turns across processes, on PostgreSQL (SQLite runs one writing
    transaction at a time, and a request's spans its log writes: nothing to take)."""
    if engine is None or engine.dialect.name != "postgresql":
        yield
        return
    with Session(_turn_engine(engine)) as session, session.begin():
        lock_names(session, [("eventlog-pass", vendor_id) for vendor_id in vendor_ids])
        yield


def _turn_engine(engine: Engine) -> Engine:
    """A one-connection engine for the turns: not the requests' pool, which requests
    waiting for this pass may have emptied."""
    with _WRITERS_LOCK:
        found = _TURN_ENGINES.get(engine)
        if found is None:
            url = engine.url.render_as_string(hide_password=False)
            found = _TURN_ENGINES[engine] = make_engine(url, pool_size=1, max_overflow=0)
        return found
