"""The contract every event-log backend keeps: stored events (SQLite, PostgreSQL), chdb in
process, and a ClickHouse 18.16 server."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from metering.ledger.eventlog.protocol import Cursor
from metering.ledger.eventlog.record import MonthTotals, digest
from metering.ledger.events.parsing import parse_item
from pricing_rules.costs import event_cost
from pricing_rules.loader import load_rules
from tests.metering.ledger.eventlog.conftest import NOW, Store
from tests.metering.ledger.events.helpers import LIMITS

PRICED = """\
plan: tokens
version: 1
currency: usd
billing: {interval: month, timezone: UTC}
outcomes:
  resolved: {event: conversation.resolved, measure: count}
charges:
  - {outcome: resolved, model: per_unit, unit_price: "1.00"}
costs:
  models:
    gpt-4o: {input: "2.50", output: "10.00", per: 1000000}
    small: {input: "0.15", output: "0.60", per: 1000000}
"""


def event(event_id: str, when: str, customer: str = "acme", **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": extra.pop("type", "model.call"),
        "customer": customer,
        "timestamp": when,
        "properties": extra.pop("properties", {"conversation_id": event_id}),
        **extra,
    }


def tokens(model: str, inp: int, out: int) -> dict[str, Any]:
    return {"model": model, "input_tokens": inp, "output_tokens": out}


def month(store: Store, customer: str, label: str) -> MonthTotals:
    found = [
        t for t in store.log.monthly(store.vendor_id, store.customer(customer)) if t.month == label
    ]
    assert len(found) == 1, found
    return found[0]


def test_retries_in_separate_inserts_count_once(store: Store) -> None:
    batch = [
        event("e1", "2026-11-03T10:00:00Z", cost=tokens("gpt-4o", 1200, 300)),
        event("e2", "2026-11-03T10:00:01Z", cost={"amount": "0.0125", "currency": "usd"}),
    ]
    store.write(batch)
    store.write(batch)  # the client's retry of the whole batch
    store.write([batch[1], event("e3", "2026-11-04T09:00:00Z", type="conversation.resolved")])

    page = store.log.events(store.vendor_id, store.customer("acme"))
    assert [r.event_id for r in page.events] == ["e1", "e2", "e3"]
    assert page.next is None
    totals = month(store, "acme", "2026-11")
    assert (totals.events, totals.cost_events, totals.distinct_types) == (3, 2, 2)
    assert totals.tokens == {"gpt-4o": (1200, 300)}
    assert totals.money == {"usd": Decimal("0.0125")}
    digests = store.log.digests(store.vendor_id, ["e1", "e2", "missing"])
    hashes = [parse_item(item, NOW, LIMITS).content_hash for item in batch]
    assert digests == {"e1": digest(hashes[0]), "e2": digest(hashes[1])}


def test_late_events_land_in_their_own_old_month(store: Store) -> None:
    store.write([event("now-1", "2026-11-20T08:00:00Z", cost=tokens("small", 10, 20))])
    store.write([event("late-1", "2025-03-31T23:59:59.250000Z", cost=tokens("small", 5, 5))])
    store.write([event("late-1", "2025-03-31T23:59:59.250000Z", cost=tokens("small", 5, 5))])

    totals = store.log.monthly(store.vendor_id)
    assert [(t.month, t.events, t.tokens) for t in totals] == [
        ("2025-03", 1, {"small": (5, 5)}),
        ("2026-11", 1, {"small": (10, 20)}),
    ]
    first = store.log.events(store.vendor_id, store.customer("acme")).events[0]
    assert first.event_id == "late-1"
    assert first.occurred_at.isoformat() == "2025-03-31T23:59:59.250000+00:00"


def test_cost_sums_equal_the_pure_core_to_the_last_digit(store: Store) -> None:
    rules = load_rules(PRICED)
    costs = [tokens("gpt-4o", 1234 + i, 567 * i) for i in range(40)]
    costs += [tokens("small", 999_999 + i, 3) for i in range(25)]
    amounts = ["0.000000000000000001", "12345.678901234567", "0.1", "7"]  # 18 places at most
    money = [{"amount": a, "currency": "usd"} for a in amounts]
    events = [
        event(f"c{i:03}", f"2026-11-{1 + i % 28:02}T12:00:00Z", cost=cost)
        for i, cost in enumerate(costs + money)
    ]
    for start in range(0, len(events), 20):
        store.write(events[start : start + 20])

    totals = month(store, "acme", "2026-11")
    per_event = sum((event_cost(rules, e["cost"]).amount for e in events), Decimal(0))  # type: ignore[union-attr]
    assert rules.costs is not None
    from_sums = (
        sum(
            (
                (inp * rules.costs.models[m].input + out * rules.costs.models[m].output)
                / rules.costs.models[m].per
                for m, (inp, out) in totals.tokens.items()
            ),
            Decimal(0),
        )
        + totals.money["usd"]
    )
    assert from_sums == per_event
    assert totals.money["usd"] == Decimal("12352.778901234567000001")
    assert totals.cost_events == len(events)


def test_pages_walk_every_event_once_in_time_order(store: Store) -> None:
    same_second = [event(f"s{i}", "2026-11-05T10:00:00Z") for i in (3, 1, 2)]
    others = [event(f"o{i}", f"2026-11-0{i}T10:00:00Z") for i in range(1, 5)]
    store.write(same_second + others)
    store.write([event("x1", "2026-11-05T10:00:00Z", customer="other")])

    seen: list[str] = []
    after: Cursor | None = None
    for _ in range(10):
        page = store.log.events(store.vendor_id, store.customer("acme"), after, limit=3)
        seen += [r.event_id for r in page.events]
        after = page.next
        if after is None:
            break
    assert seen == ["o1", "o2", "o3", "o4", "s1", "s2", "s3"]


def test_stream_reads_the_cost_events_of_a_range(store: Store) -> None:
    from datetime import UTC, datetime

    store.write(
        [
            event("in", "2026-11-10T00:00:00Z", cost=tokens("small", 1, 1)),
            event("no-cost", "2026-11-10T00:00:00Z"),
            event("after", "2026-12-01T00:00:00Z", cost=tokens("small", 1, 1)),
            event("before", "2026-10-31T23:59:59Z", cost=tokens("small", 1, 1)),
        ]
    )
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    found = store.log.stream(store.vendor_id, [store.customer("acme")], start, end)
    assert [r.event_id for r in found] == ["in"]
