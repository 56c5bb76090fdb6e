"""What only the ClickHouse backends hold (the SQL store has its own rows for these): a
void of a log-only event replaces it for every read, before and after a merge, and a retry
written after the void does not bring it back; cost sums per properties and model equal the
pure core's price of each event, to the last digit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from metering.ledger.eventlog.clickhouse import ClickHouseLog
from metering.ledger.eventlog.convert import record_of
from metering.ledger.eventlog.record import EventRecord
from metering.ledger.eventlog.transports import HttpTransport
from metering.ledger.events.parsing import parse_item
from pricing_rules.costs import MoneyCost, TokenCost, event_cost, price_cost
from pricing_rules.loader import load_rules
from tests.metering.ledger.eventlog.conftest import NOW, fresh_table
from tests.metering.ledger.eventlog.server import Server
from tests.metering.ledger.eventlog.test_contract import PRICED, event, tokens
from tests.metering.ledger.events.helpers import LIMITS

VENDOR = "ven_sums"
NOVEMBER = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


@pytest.fixture(params=["chdb", "clickhouse-18"])
def log(request: pytest.FixtureRequest) -> Iterator[ClickHouseLog]:
    if request.param == "chdb":
        yield ClickHouseLog(request.getfixturevalue("chdb_transport"), table=fresh_table())
        return
    servers: list[Server] = request.getfixturevalue("clickhouse_servers")
    http = HttpTransport(servers[0].url)
    yield ClickHouseLog(http, table=fresh_table())
    http.close()


def records(items: list[dict[str, object]], status: str = "unmatched") -> list[EventRecord]:
    return [
        record_of(VENDOR, f"cus_{parsed.event.customer}", parsed, NOW, status=status)
        for parsed in (parse_item(item, NOW, LIMITS) for item in items)
    ]


def test_a_void_replaces_the_event_for_every_read_and_a_later_retry_keeps_it(
    log: ClickHouseLog,
) -> None:
    calls = [
        event("a", "2026-11-02T10:00:00Z", cost=tokens("small", 1000, 10)),
        event("b", "2026-11-02T11:00:00Z", cost=tokens("small", 2000, 20)),
    ]
    log.write(records(calls))
    found = log.find(VENDOR, "a")
    assert found is not None and found.voided_at is None
    voided_at = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)

    voided = log.void(found, "test traffic", voided_at)
    again = log.void(log.find(VENDOR, "a") or found, "other reason", NOW)
    log.write(records(calls[:1]))  # a client's retry of the voided event, after the void

    shown = log.find(VENDOR, "a")
    assert shown is not None
    assert (shown.void_reason, shown.voided_at) == ("test traffic", voided_at)
    assert (again.void_reason, again.voided_at) == (voided.void_reason, voided.voided_at)
    start, end = NOVEMBER
    sums = list(log.cost_sums(VENDOR, ["cus_acme"], start, end))
    assert [(s.model, s.events, s.input_tokens) for s in sums] == [("small", 1, 2000)]
    assert [r.event_id for r in log.stream(VENDOR, ["cus_acme"], start, end)] == ["b"]
    log.transport.execute(f"OPTIMIZE TABLE {log.table} FINAL")  # merged: the same answers
    merged = log.find(VENDOR, "a")
    assert merged is not None and merged.void_reason == "test traffic"
    assert [s.events for s in log.cost_sums(VENDOR, ["cus_acme"], start, end)] == [1]
    (month,) = log.monthly(VENDOR)
    assert month.events == 2  # a voided event stays in the log (for audit), as in SQL


def test_cost_sums_priced_once_equal_each_event_priced(log: ClickHouseLog) -> None:
    rules = load_rules(PRICED)
    items = [
        event(
            f"c{i:03}",
            f"2026-11-{1 + i % 28:02}T12:00:00Z",
            customer="acme" if i % 3 else "globex",
            properties={"conversation_id": f"conv-{i % 7}"},
            cost=tokens("gpt-4o" if i % 2 else "small", 1234 + 17 * i, 567 * i),
        )
        for i in range(60)
    ]
    amounts = ["0.000000000000000001", "12345.678901234567", "0.1"]
    items += [
        event(f"m{i}", "2026-11-20T12:00:00Z", cost={"amount": a, "currency": "usd"})
        for i, a in enumerate(amounts)
    ]
    items.append(event("stored", "2026-11-21T12:00:00Z", cost=tokens("small", 5, 5)))
    items.append(event("october", "2026-10-31T23:59:59Z", cost=tokens("small", 5, 5)))
    log.write(records(items[:-2]) + records(items[-2:-1], status="") + records(items[-1:]))
    log.write(records(items[10:30]))  # retries in a separate insert

    start, end = NOVEMBER
    sums = list(log.cost_sums(VENDOR, ["cus_acme", "cus_globex"], start, end))
    summed = Decimal(0)
    for total in sums:
        cost = (
            TokenCost(total.model, total.input_tokens, total.output_tokens)
            if total.model is not None
            else MoneyCost(total.amount or Decimal(0), total.currency or "")
        )
        summed += price_cost(rules, cost).amount or Decimal(0)
    each = sum(
        (event_cost(rules, item["cost"]).amount for item in items[:-2]),  # type: ignore[arg-type, union-attr]
        Decimal(0),
    )
    assert summed == each
    assert sum(total.events for total in sums) == 63  # the SQL store's one and October's out
    assert len(sums) < 63  # calls of one conversation and model come back as one row


def test_attributed_sums_join_flat_keys_and_leave_the_others_to_cost_sums(
    log: ClickHouseLog,
) -> None:
    def call(event_id: str, properties: dict[str, object], inp: int) -> dict[str, object]:
        return event(
            event_id, "2026-11-02T10:00:00Z", properties=properties, cost=tokens("small", inp, 0)
        )

    items = [
        call("a1", {"conversation_id": "a"}, 1),
        call("a2", {"conversation_id": "a", "n": 2}, 2),
        call("b1", {"conversation_id": "b"}, 4),
        call("none", {"n": 1}, 8),
        call("empty", {"conversation_id": ""}, 16),
        call("number", {"conversation_id": 7}, 32),
        call("nested", {"conversation_id": "a", "m": {"conversation_id": "b"}}, 64),
        call("quoted", {"conversation_id": 'x"y'}, 128),
    ]
    log.write(records(items))
    owners = [("cus_acme", "a", "resolved", None), ("cus_acme", "b", "resolved", "gold")]
    start, end = NOVEMBER

    customers = ["cus_acme"] + [f"cus_{n:030}" for n in range(1000)]  # too many for a URL
    found = log.attributed_sums(VENDOR, customers, start, end, "conversation_id", owners)
    summed = sorted(
        (s.outcome or "", s.dimension or "", s.events, s.input_tokens) for s in found.sums
    )
    rest = log.cost_sums(VENDOR, ["cus_acme"], start, end, key="conversation_id")

    assert summed == [("", "", 2, 24), ("resolved", "", 2, 3), ("resolved", "gold", 1, 4)]
    assert sorted(s.input_tokens for s in rest) == [32, 64, 128]
    assert (found.unread, found.sql_held) == (True, False)
