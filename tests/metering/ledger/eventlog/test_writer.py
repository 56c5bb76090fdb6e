"""Group commit: concurrent requests' log-only events go in shared passes, and each request
still learns which of its events are new, duplicates or conflicts, the first queued winning."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from metering.ledger.eventlog.clickhouse import ClickHouseLog
from metering.ledger.eventlog.transports import EventLogUnavailable, HttpTransport
from metering.ledger.eventlog.writer import Held, Writer
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
    return Held(event_id, record.content_hash, log.line(record), 0)


def test_concurrent_requests_reusing_ids_store_each_id_once(log: ClickHouseLog) -> None:
    writer = Writer.of(log)
    requests = [[_held(log, f"e{n % 5}", 1 + (n % 2)), _held(log, f"own{n}", 7)] for n in range(20)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda held: writer.submit(VENDOR, held, ()).result(), requests))

    stored = sorted(event_id for answer in answers for _, event_id, _ in answer.stored)
    assert stored == sorted([f"e{n}" for n in range(5)] + [f"own{n}" for n in range(20)])
    settled = sum(a.duplicates + len(a.conflicts) + len(a.stored) for a in answers)
    assert settled == 40  # every event answered once
    assert sum(m.events for m in log.monthly(VENDOR)) == 25


def test_a_pass_clickhouse_refuses_fails_every_request_in_it(log: ClickHouseLog) -> None:
    broken = ClickHouseLog(log.transport, table="no_such_table", create=False)
    future = Writer.of(broken).submit(VENDOR, [_held(log, "x", 1)], ())
    with pytest.raises(EventLogUnavailable):
        future.result()
