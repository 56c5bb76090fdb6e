"""The event log's time columns, exact to the microsecond whatever the timezone a time
arrives in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metering.ledger.eventlog.clickhouse import COLUMNS, ClickHouseLog
from metering.ledger.eventlog.convert import event_lines, record_of
from metering.ledger.eventlog.record import EventRecord, epoch_micros
from metering.ledger.events.parsing import ItemError, Limits, parse_item

PLUS_FIVE = timezone(timedelta(hours=5))


def test_epoch_micros_is_exact_for_any_offset_and_before_1970() -> None:
    assert epoch_micros(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert epoch_micros(datetime(2026, 12, 3, 10, 11, 12, 345678, tzinfo=UTC)) == (
        1_796_292_672_345_678
    )
    # The same instant written at +05:00.
    assert epoch_micros(datetime(2026, 12, 3, 15, 11, 12, 345678, tzinfo=PLUS_FIVE)) == (
        1_796_292_672_345_678
    )
    assert epoch_micros(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == -1


def test_a_line_holds_the_second_and_the_exact_microseconds() -> None:
    record = EventRecord(
        vendor_id="ven_1",
        customer_id="cus_1",
        customer_external_id="acme",
        event_id="e-1",
        type="model.call",
        occurred_at=datetime(2026, 12, 3, 1, 2, 3, 456789, tzinfo=PLUS_FIVE),
        properties="{}",
        cost=None,
        content_hash="ff00" + "0" * 60,
        received_at=datetime(2026, 12, 3, 0, 0, 0, 1, tzinfo=UTC),
        status="unmatched",
    )
    line, id_line = (
        dict(zip(COLUMNS, row.split("\t"), strict=True))
        for row in ClickHouseLog.rows(record).rstrip("\n").split("\n")
    )
    utc = datetime(2026, 12, 2, 20, 2, 3, 456789, tzinfo=UTC)  # the UTC day before
    seconds = str(int(utc.replace(microsecond=0).timestamp()))  # DateTime's seconds
    assert (line["occurred_at"], line["occurred_micros"]) == (seconds, str(epoch_micros(utc)))
    assert line["received_micros"] == "1796256000000001"
    assert (line["customer_id"], line["customer_external_id"], line["digest"]) == (
        "cus_1",
        "acme",
        "0",
    )
    # The id row: no customer (it sorts by id), its event's customer for sharding, the
    # first 64 bits of the content hash, the status and the month of its event.
    assert (id_line["customer_id"], id_line["customer_external_id"]) == ("", "cus_1")
    assert (id_line["event_id"], id_line["digest"], id_line["status"]) == (
        "e-1",
        str(0xFF00 << 48),
        "unmatched",
    )
    assert (id_line["occurred_at"], id_line["type"], id_line["properties"]) == (seconds, "", "")


# Mostly text that needs no escaping (the usual event), sometimes every kind that does.
TEXT = st.one_of(
    st.text(alphabet=st.sampled_from("ab-_.é"), min_size=1, max_size=8),
    st.text(alphabet=st.sampled_from("ab'\\\t\n\r\0 "), min_size=1, max_size=4),
).filter(lambda text: text.strip() != "")
COSTS = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"model": TEXT, "input_tokens": st.integers(0, 10**9), "output_tokens": st.integers(0, 9)}
    ),
    st.fixed_dictionaries(
        {
            "amount": st.decimals(min_value=0, max_value=10**6, places=6).map(str),
            "currency": st.sampled_from(["usd", "eur"]),
        }
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    event_id=TEXT,
    customer=TEXT,
    type_=TEXT,
    customer_id=TEXT,
    properties=st.dictionaries(TEXT, st.one_of(TEXT, st.integers(), st.booleans()), max_size=3),
    cost=COSTS,
    offset=st.integers(-12, 12),
    status=st.sampled_from(["", "unmatched"]),
    plan_version_id=st.one_of(st.none(), TEXT),
)
def test_event_lines_are_the_lines_of_the_records(
    event_id: str,
    customer: str,
    type_: str,
    customer_id: str,
    properties: dict[str, object],
    cost: dict[str, object] | None,
    offset: int,
    status: str,
    plan_version_id: str | None,
) -> None:
    """Ingestion's rows, made without records, are the text every other writer makes."""
    when = datetime(2026, 12, 3, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=offset)))
    item: dict[str, object] = {
        "id": event_id,
        "type": type_,
        "customer": customer,
        "timestamp": when.isoformat(),
        "properties": properties,
    }
    if cost is not None:
        item["cost"] = cost
    limits = Limits(1000, 65536, timedelta(minutes=5))
    try:
        parsed = parse_item(item, datetime(2027, 1, 1, tzinfo=UTC), limits)
    except ItemError:
        return  # text ingestion refuses (a control character) never reaches the log
    received = datetime(2026, 12, 3, 9, 0, 0, 7, tzinfo=UTC)
    lines = event_lines("ven\t1", received, status, [(customer_id, parsed, plan_version_id)])
    record = record_of("ven\t1", customer_id, parsed, received, status, plan_version_id)
    assert lines == [ClickHouseLog.rows(record)]
