"""Group commit: concurrent requests' log-only events go in shared passes, and each request
still learns which of its events are new, duplicates or conflicts, the first queued winning;
across processes, one vendor's passes take turns."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from metering.ledger.eventlog.clickhouse import ClickHouseLog, Transport
from metering.ledger.eventlog.transports import EventLogUnavailable, External, HttpTransport
from metering.ledger.eventlog.writer import Held, Writer
from metering.platform.db.engine import make_engine
from tests.metering.conftest import postgres_database
from tests.metering.ledger.eventlog.conftest import fresh_table
from tests.metering.ledger.eventlog.server import Server
from tests.metering.ledger.eventlog.test_contract import event, tokens
from tests.metering.ledger.eventlog.test_voids_and_sums import VENDOR, records


@pytest.fixture(params=["chdb", "clickhouse-18"])
def log(request: pytest.FixtureRequest) -> Iterator[ClickHouseLog]:
    if request.param == "chdb":
        yield ClickHouseLog(request.getfixturevalue("chdb_transport"), table=fresh_table())
        return
    servers: list[Server] = request.getfixturevalue("clickhouse_servers")
    http = HttpTransport(servers[0].url)
    yield ClickHouseLog(http, table=fresh_table())
    http.close()


def _held(log: ClickHouseLog, event_id: str, inp: int) -> Held:
    (record,) = records([event(event_id, "2026-11-02T10:00:00Z", cost=tokens("small", inp, 0))])
    return Held(event_id, record.content_hash, log.rows(record), 0)


def test_concurrent_requests_reusing_ids_store_each_id_once(log: ClickHouseLog) -> None:
    writer = Writer.of(log)
    requests = [[_held(log, f"e{n % 5}", 1 + (n % 2)), _held(log, f"own{n}", 7)] for n in range(20)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda held: writer.submit(VENDOR, held, ()).result(), requests))

    stored = sorted(event_id for answer in answers for _, event_id, _ in answer.stored)
    assert stored == sorted([f"e{n}" for n in range(5)] + [f"own{n}" for n in range(20)])
    settled = sum(len(a.duplicates) + len(a.conflicts) + len(a.stored) for a in answers)
    assert settled == 40  # every event answered once
    assert sum(m.events for m in log.monthly(VENDOR)) == 25


def test_ids_with_tabs_backslashes_and_quotes_are_told_apart_on_retry(log: ClickHouseLog) -> None:
    writer = Writer.of(log)
    odd = ["tab\there", "back\\slash", "quo'te", "new\nline", "tab\there2"]
    first = writer.submit(VENDOR, [_held(log, event_id, 1) for event_id in odd], ()).result()
    assert sorted(event_id for _, event_id, _ in first.stored) == sorted(odd)

    again = writer.submit(VENDOR, [_held(log, event_id, 1) for event_id in odd], ()).result()
    changed = writer.submit(VENDOR, [_held(log, odd[0], 2)], ()).result()

    assert (again.stored, len(again.duplicates)) == ([], 5)
    assert changed.conflicts == [(0, "tab\there")]
    assert sum(m.events for m in log.monthly(VENDOR)) == 5


def test_a_pass_clickhouse_refuses_fails_every_request_in_it(log: ClickHouseLog) -> None:
    broken = ClickHouseLog(log.transport, table="no_such_table", create=False)
    future = Writer.of(broken).submit(VENDOR, [_held(log, "x", 1)], ())
    with pytest.raises(EventLogUnavailable):
        future.result()


class _Watched:
    """A transport whose id lookups take `lookup_seconds` (two passes that do not take
    turns would both look an id up before either writes it), and which counts the INSERTs
    of events into `table` (one per pass)."""

    def __init__(self, inner: Transport, lookup_seconds: float = 0.0, table: str = "") -> None:
        self.inner = inner
        self.lookup_seconds = lookup_seconds
        self.table = table
        self.inserts = 0
        self.looking = threading.Event()  # set once a lookup started (its pass has the turn)

    def execute(self, sql: str, data: str | None = None) -> str:
        if sql.startswith(f"INSERT INTO {self.table} ("):
            self.inserts += 1
        return self.inner.execute(sql, data)

    def execute_with(self, sql: str, tables: Sequence[External]) -> str:
        if sql.startswith("SELECT"):  # the lookup of ids
            self.looking.set()
            time.sleep(self.lookup_seconds)
        return self.inner.execute_with(sql, tables)

    def close(self) -> None:
        self.inner.close()


def test_two_processes_given_one_id_with_different_content_store_it_once(
    log: ClickHouseLog,
) -> None:
    slow = ClickHouseLog(_Watched(log.transport, 0.5), table=log.table, create=False)
    first, second = _held(log, "x", 1), _held(log, "x", 2)
    with postgres_database("writer_turns") as url:
        engine = make_engine(url)
        writers = [Writer(slow), Writer(slow)]  # one per process: each its own passes
        start = threading.Barrier(2)

        def post(writer: Writer, held: Held) -> tuple[int, int]:
            start.wait()
            answer = writer.submit(VENDOR, [held], (), engine).result()
            return len(answer.stored), len(answer.conflicts)

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(post, writers, [first, second]))
        engine.dispose()

    assert sorted(answers) == [(0, 1), (1, 0)]
    (month,) = log.monthly(VENDOR)
    assert month.events == 1


def test_requests_queued_while_a_pass_waits_for_its_turn_join_that_pass(
    log: ClickHouseLog,
) -> None:
    watched = _Watched(log.transport, 1.0)
    slow = ClickHouseLog(watched, table=log.table, create=False)
    counted = _Watched(log.transport, table=log.table)
    mine = ClickHouseLog(counted, table=log.table, create=False)
    with postgres_database("writer_joining") as url:
        engine = make_engine(url)
        other, writer = Writer(slow), Writer(mine)  # two processes
        holding = other.submit(VENDOR, [_held(log, "a", 1)], (), engine)
        assert watched.looking.wait(30)  # the other process's pass has the turn for 1 s
        first = writer.submit(VENDOR, [_held(log, "b", 1)], (), engine)
        time.sleep(0.1)  # this process's pass took it and waits for the turn
        second = writer.submit(VENDOR, [_held(log, "c", 1), _held(log, "b", 2)], (), engine)
        answers = [future.result() for future in (holding, first, second)]
        engine.dispose()

    assert [[event_id for _, event_id, _ in a.stored] for a in answers] == [["a"], ["b"], ["c"]]
    assert [len(a.conflicts) for a in answers] == [0, 0, 1]  # b reused: the first queued won
    assert counted.inserts == 1  # b and c went in one pass
    assert sum(m.events for m in log.monthly(VENDOR)) == 3
