"""Reading events: native and CloudEvents shapes, and every way an event can be wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pricing_rules.event_json import EventFormatError, event_from_json
from pricing_rules.event_lines import EventLinesError, read_event_lines

NATIVE = {
    "id": "e1",
    "type": "conversation.resolved",
    "customer": "acme",
    "timestamp": "2026-11-02T10:00:00+01:00",
    "properties": {"conversation_id": "c-1"},
}


def test_native_event_timestamp_becomes_utc() -> None:
    event = event_from_json(NATIVE)
    assert event.timestamp == datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert (event.id, event.customer, event.properties) == (
        "e1",
        "acme",
        {"conversation_id": "c-1"},
    )


def test_cloudevent_maps_subject_and_data() -> None:
    event = event_from_json(
        {
            "specversion": "1.0",
            "id": "e2",
            "source": "/agents",
            "type": "lead.qualified",
            "subject": "globex",
            "time": "2026-11-02T10:00:00Z",
            "data": {"lead_id": "L-1"},
        }
    )
    assert (event.customer, event.properties, event.timestamp.tzinfo) == (
        "globex",
        {"lead_id": "L-1"},
        UTC,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": None}, "id: is required"),
        ({"id": 12}, "id: expected a string, got the number 12"),
        ({"customer": ""}, "customer: must not be empty"),
        ({"timestamp": "2026-11-31T00:00:00Z"}, "timestamp: expected an ISO 8601 date-time"),
        ({"timestamp": "2026-11-02T10:00:00"}, "has no timezone; add Z or an offset"),
        ({"properties": [1]}, "properties: expected a JSON object, got a list"),
        ({"colour": "red"}, "colour: unknown member"),
    ],
)
def test_bad_native_events_name_the_field(change: dict[str, object], message: str) -> None:
    item = {**NATIVE, **change}
    with pytest.raises(EventFormatError) as caught:
        event_from_json(item)
    assert message in str(caught.value)


def test_cloudevent_needs_version_one() -> None:
    with pytest.raises(EventFormatError, match=r"specversion '1\.0', got '0\.3'"):
        event_from_json({"specversion": "0.3", "id": "x"})


def test_lines_keep_decimals_exact_and_skip_exact_retries() -> None:
    line = (
        '{"id":"e1","type":"t","customer":"c","timestamp":"2026-11-02T10:00:00Z",'
        '"properties":{"amount":0.1}}'
    )
    events = read_event_lines([line, "", line])
    assert len(events) == 1
    assert events[0].properties["amount"] == Decimal("0.1")


def test_every_bad_line_is_reported_with_its_number() -> None:
    good = '{"id":"e1","type":"t","customer":"c","timestamp":"2026-11-02T10:00:00Z"}'
    clash = '{"id":"e1","type":"other","customer":"c","timestamp":"2026-11-02T10:00:00Z"}'
    with pytest.raises(EventLinesError) as caught:
        read_event_lines([good, "{not json", '{"type":"t"}', clash])
    assert [(e.line, e.message) for e in caught.value.errors] == [
        (2, "invalid JSON: Expecting property name enclosed in double quotes (column 2)"),
        (3, "id: is required"),
        (4, "id 'e1' was already used on line 1 with different content"),
    ]
