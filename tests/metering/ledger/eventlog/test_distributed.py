"""Two ClickHouse 18.16 servers as two shards behind a `Distributed` table: a customer's
events, their id rows and their retries stay on one shard, so reads through it count each
event once, and an id is looked up on every shard."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from metering.ledger.eventlog import tsv
from metering.ledger.eventlog.clickhouse import SHARDING_KEY, ClickHouseLog
from metering.ledger.eventlog.transports import HttpTransport
from metering.ledger.eventlog.writer import Held, Writer
from tests.metering.ledger.eventlog.conftest import ClickHouseStore, fresh_table
from tests.metering.ledger.eventlog.server import CLUSTER, Server
from tests.metering.ledger.eventlog.test_contract import event, tokens
from tests.metering.ledger.eventlog.test_voids_and_sums import VENDOR, records


@pytest.fixture
def sharded(clickhouse_servers: list[Server]) -> Iterator[tuple[ClickHouseStore, list[str]]]:
    local = fresh_table()
    shards = [HttpTransport(server.url) for server in clickhouse_servers]
    for shard in shards:
        ClickHouseLog(shard, table=local)
    shards[0].execute(
        f"CREATE TABLE {local}_all AS {local} ENGINE = "
        f"Distributed({CLUSTER}, default, {local}, {SHARDING_KEY})"
    )
    front = HttpTransport(clickhouse_servers[0].url, {"insert_distributed_sync": "1"})
    yield ClickHouseStore(ClickHouseLog(front, table=f"{local}_all", create=False)), [local]
    for transport in [front, *shards]:
        transport.close()


def test_a_customers_events_and_retries_stay_on_one_shard(
    sharded: tuple[ClickHouseStore, list[str]], clickhouse_servers: list[Server]
) -> None:
    store, (local,) = sharded
    customers = [f"c{i}" for i in range(8)]
    batch = [
        event(f"{c}-{n}", f"2026-11-0{1 + n}T10:00:00Z", customer=c, cost=tokens("small", n, 1))
        for c in customers
        for n in range(3)
    ]
    store.write(batch)
    store.write(batch[::2])  # retries, in a separate insert

    per_shard = []
    for server in clickhouse_servers:
        shard = HttpTransport(server.url)
        sql = (
            "SELECT if(customer_id = '', customer_external_id, customer_id) AS customer, "
            f"countIf(customer_id != ''), countIf(customer_id = '') FROM {local} FINAL "
            "GROUP BY customer FORMAT TSV"
        )
        rows = tsv.parse(shard.execute(sql))
        per_shard.append({str(c): (int(n or 0), int(i or 0)) for c, n, i in rows})
        shard.close()
    assert all(per_shard), f"every shard holds some customers: {per_shard}"
    assert set(per_shard[0]).isdisjoint(per_shard[1])
    # each customer's three events and their three id rows
    assert {f"cus_{c}": (3, 3) for c in customers} == per_shard[0] | per_shard[1]

    totals = store.log.monthly(store.vendor_id)
    assert [(t.customer_id, t.events, t.tokens) for t in totals] == [
        (f"cus_{c}", 3, {"small": (3, 3)}) for c in customers
    ]
    pages = store.log.events(store.vendor_id, "cus_c3", limit=2)
    assert [r.event_id for r in pages.events] == ["c3-0", "c3-1"]


def test_an_id_reused_by_customers_on_either_shard_is_a_conflict(
    sharded: tuple[ClickHouseStore, list[str]],
) -> None:
    store, _ = sharded
    log = store.log

    def held(customer: str) -> Held:
        item = event("x", "2026-11-02T10:00:00Z", customer=customer, cost=tokens("small", 1, 0))
        (record,) = records([item])
        return Held("x", record.content_hash, log.rows(record), 0)

    writer = Writer(log)
    first = writer.submit(VENDOR, [held("c0")], ()).result()
    others = [writer.submit(VENDOR, [held(f"c{n}")], ()).result() for n in range(1, 8)]
    retry = writer.submit(VENDOR, [held("c0")], ()).result()

    assert [event_id for _, event_id, _ in first.stored] == ["x"]
    assert [[event_id for _, event_id in o.conflicts] for o in others] == [["x"]] * 7
    assert (retry.duplicates, retry.stored, retry.conflicts) == ([(0, "x")], [], [])
    (month,) = log.monthly(VENDOR)
    assert (month.customer_id, month.events) == ("cus_c0", 1)
