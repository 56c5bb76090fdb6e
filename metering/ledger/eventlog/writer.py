"""Group commit into the event log: the writes of a process's concurrent requests go in one
pass, one lookup of content hashes per vendor and one INSERT for all of them.

An INSERT into the MergeTree table costs ClickHouse a new part (tens of milliseconds of
server CPU on 18.16, then merges) whatever its size, so a process that inserts each
request's events on its own spends most of ClickHouse's time on parts. Here a request
queues its rows and waits for the pass that writes them; while a pass runs, the next
requests queue, and the following pass takes them all. Each request still gets its own
answer (new, duplicate, conflict) and is acknowledged only once its rows are in, and ids
reused within one pass are told apart as across passes (the first one queued wins).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from metering.ledger.eventlog.clickhouse import ClickHouseLog
from metering.ledger.states import EventStatus

UNMATCHED = EventStatus.UNMATCHED.value


@dataclass(frozen=True, slots=True)
class Held:
    """A log-only event of a request: written unless the log has its id already."""

    event_id: str
    content_hash: str
    line: str
    """its TabSeparated row"""
    index: int


@dataclass(slots=True)
class Logged:
    """What became of a request's log-only events."""

    stored: list[tuple[int, str, str]] = field(default_factory=list)
    """(index, event id, status) of each new one"""
    duplicates: int = 0
    conflicts: list[tuple[int, str]] = field(default_factory=list)

    def add(self, other: Logged) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.conflicts += other.conflicts


@dataclass(slots=True)
class _Job:
    vendor_id: str
    held: Sequence[Held]
    lines: Sequence[str]
    """rows written as they are (events the SQL store took as new)"""
    future: Future[Logged] = field(default_factory=Future)


_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="eventlog")
_WRITERS: weakref.WeakKeyDictionary[ClickHouseLog, Writer] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


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

    def submit(self, vendor_id: str, held: Sequence[Held], lines: Sequence[str]) -> Future[Logged]:
        """Queue a request's rows; the future fails with `EventLogUnavailable` when
        ClickHouse did not take the pass."""
        job = _Job(vendor_id, held, lines)
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

    def _pass(self, jobs: list[_Job]) -> list[Logged]:
        results = [Logged() for _ in jobs]
        lines: list[str] = []
        for vendor_id in dict.fromkeys(job.vendor_id for job in jobs):
            mine = [
                (job, logged)
                for job, logged in zip(jobs, results, strict=True)
                if job.vendor_id == vendor_id
            ]
            ids = {held.event_id for job, _ in mine for held in job.held}
            known = self.log.hashes(vendor_id, ids) if ids else {}
            for job, logged in mine:
                for held in job.held:
                    earlier = known.get(held.event_id)
                    if earlier == held.content_hash:
                        logged.duplicates += 1
                    elif earlier is not None:
                        logged.conflicts.append((held.index, held.event_id))
                    else:
                        known[held.event_id] = held.content_hash
                        lines.append(held.line)
                        logged.stored.append((held.index, held.event_id, UNMATCHED))
                lines.extend(job.lines)
        self.log.write_text("".join(lines))
        return results
