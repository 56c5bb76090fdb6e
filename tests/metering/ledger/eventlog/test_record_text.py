"""The event log's time columns, exact to the microsecond whatever the timezone a time
arrives in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from metering.ledger.eventlog.clickhouse import ClickHouseLog
from metering.ledger.eventlog.record import EventRecord, epoch_micros

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


def test_a_line_holds_the_utc_second_and_the_exact_microseconds() -> None:
    record = EventRecord(
        vendor_id="ven_1",
        customer_id="cus_1",
        customer_external_id="acme",
        event_id="e-1",
        type="model.call",
        occurred_at=datetime(2026, 12, 3, 1, 2, 3, 456789, tzinfo=PLUS_FIVE),
        properties="{}",
        cost=None,
        content_hash="0" * 64,
        received_at=datetime(2026, 12, 3, 0, 0, 0, 1, tzinfo=UTC),
    )
    fields = ClickHouseLog.line(record).rstrip("\n").split("\t")
    assert fields[5] == "2026-12-02 20:02:03"  # the UTC day before, in DateTime's text
    assert fields[6] == str(epoch_micros(datetime(2026, 12, 2, 20, 2, 3, 456789, tzinfo=UTC)))
    assert fields[15] == "1796256000000001"
