"""The fast parsing path: a body whose bytes hold nothing `json_fault` refuses skips the walk
of every event; every other body is walked as before, so each bad event is still refused by
itself, naming its field. No database: the same items through both paths give the same."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from metering.ledger.events.parsing import (
    ItemError,
    Limits,
    content_hash,
    parse_item,
    read_envelope,
    storable,
)
from metering.platform.api.inputs import MAX_JSON_DEPTH
from metering.platform.db import jsontext
from metering.platform.db.types import utcnow
from tests.metering.ledger.events.helpers import recent, resolved

LIMITS = Limits(max_batch_events=1000, max_properties_bytes=32768, future_tolerance=timedelta(0))
NOW = utcnow()


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"down": value}
    return value


def _outcome(item: Any, checked: bool) -> tuple[str, Any]:
    """What parsing makes of one item: its event and hash, or the error and its id."""
    try:
        parsed = parse_item(item, NOW, LIMITS, checked)
    except ItemError as error:
        return "error", (error.detail, error.event_id)
    return "event", (parsed.event, parsed.content_hash, parsed.properties_json)


GOOD = [
    resolved("evt_1", "c-1"),
    resolved("evt_2", "c-2", amount=Decimal("12.500")),
    resolved("evt_3", "c-3", nested=_nested(MAX_JSON_DEPTH - 1), word="snow ☃"),
    {
        "specversion": "1.0",
        "id": "evt_4",
        "type": "conversation.resolved",
        "source": "/agent",
        "subject": "acme",
        "time": recent(),
        "data": {"conversation_id": "c-4", "list": [1, [2, [3]]]},
    },
]
# Wrong types, missing fields, unknown members, malformed members: refused by the same
# checks on both paths.
MALFORMED = [
    {"id": 7, "type": "x", "customer": "acme", "timestamp": recent()},
    {"type": "conversation.resolved", "customer": "acme", "timestamp": recent()},
    {"id": "evt_5", "type": "x", "customer": "acme"},
    {"id": "evt_6", "type": "x", "customer": "acme", "timestamp": "yesterday"},
    {"id": "evt_7", "type": "x", "customer": "acme", "timestamp": recent(), "extra": 1},
    {"id": "evt_8", "type": "x", "customer": "acme", "timestamp": recent(), "properties": []},
    {"id": "evt_9", "type": "", "customer": "acme", "timestamp": recent()},
    {"id": "evt_10", "type": "x", "customer": "acme", "timestamp": "2026-11-28T14:03:00"},
    "not an event",
    None,
    [1, 2],
]


@pytest.mark.parametrize("item", GOOD + MALFORMED)
def test_an_item_parses_the_same_on_both_paths(item: Any) -> None:
    body = jsontext.dumps({"events": [item]}).encode()
    envelope = read_envelope(body, "application/json", LIMITS)

    assert envelope.checked
    assert _outcome(envelope.items[0], True) == _outcome(item, False)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('"a\\u0000b"', "properties.note"),  # NUL, escaped
        ('"\\ud800"', "properties.note"),  # unpaired surrogate, escaped
        ('"' + chr(0xD800) + '"', "properties.note"),  # a surrogate written as UTF-8
        ("NaN", "properties.note"),
        ("-Infinity", "properties.note"),
        (json.dumps(_nested(MAX_JSON_DEPTH + 1)), "properties"),
    ],
)
def test_a_body_with_a_fault_is_walked_and_the_bad_event_named(text: str, field: str) -> None:
    good = json.dumps(resolved("evt_ok", "c-1"))
    bad = json.dumps(resolved("evt_bad", "c-2"))
    bad = bad.replace('"properties": {', f'"properties": {{"note": {text}, ', 1)
    body = f'{{"events": [{good}, {bad}]}}'.encode("utf-8", "surrogatepass")
    envelope = read_envelope(body, "application/json", LIMITS)

    assert not envelope.checked
    assert _outcome(envelope.items[0], envelope.checked)[0] == "event"
    kind, (detail, event_id) = _outcome(envelope.items[1], envelope.checked)
    assert kind == "error"
    assert detail.startswith(f"{field}:")
    assert event_id == "evt_bad"


def test_text_that_only_looks_suspect_is_walked_and_stored() -> None:
    item = resolved("evt_1", "c-1", word="a backslash then u0000: \\u0000, and NaN")
    envelope = read_envelope(jsontext.dumps(item).encode(), "application/json", LIMITS)
    assert not envelope.checked
    assert _outcome(envelope.items[0], False)[0] == "event"


def test_depth_is_allowed_up_to_the_limit_and_not_one_level_more() -> None:
    at_limit = resolved("evt_1", "c-1", deep=_nested(MAX_JSON_DEPTH - 1))
    over = resolved("evt_2", "c-2", deep=_nested(MAX_JSON_DEPTH))
    assert storable(json.dumps(at_limit).encode(), [at_limit])
    assert _outcome(at_limit, False)[0] == "event"
    assert not storable(json.dumps(over).encode(), [over])
    assert _outcome(over, False)[0] == "error"


def test_one_event_and_a_cloudevents_batch_are_checked_too() -> None:
    one = read_envelope(json.dumps(GOOD[0]).encode(), "application/json", LIMITS)
    events = read_envelope(
        json.dumps([GOOD[3]]).encode(), "application/cloudevents-batch+json", LIMITS
    )
    assert one.checked and not one.batch
    assert events.checked and events.batch


def test_a_body_in_utf16_is_walked() -> None:
    body = jsontext.dumps({"events": [GOOD[0]]}).encode("utf-16")
    envelope = read_envelope(body, "application/json", LIMITS)
    assert not envelope.checked
    assert _outcome(envelope.items[0], False)[0] == "event"


def test_duplicate_ids_in_a_batch_keep_their_own_hashes() -> None:
    """The service tells a retry within a batch (same hash) from a conflict (other hash)."""
    same = read_envelope(
        jsontext.dumps({"events": [GOOD[0], GOOD[0], GOOD[0] | {"type": "other"}]}).encode(),
        "application/json",
        LIMITS,
    )
    first, again, other = (parse_item(item, NOW, LIMITS, same.checked) for item in same.items)
    assert first.content_hash == again.content_hash != other.content_hash


def test_the_content_hash_is_the_one_stored_before() -> None:
    """Stored events keep their hashes: the canonical text is json.dumps of the six parts."""
    import hashlib

    for item in [*GOOD, resolved("evt_u", "c-ü", note="naïve ☃")]:
        event = parse_item(item, NOW, LIMITS).event
        canonical = json.dumps(
            [
                event.id,
                event.type,
                event.customer,
                jsontext.iso_utc(event.timestamp),
                jsontext.dumps(event.properties),
                jsontext.dumps(event.cost) if event.cost is not None else None,
            ],
            separators=(",", ":"),
        )
        assert content_hash(event) == hashlib.sha256(canonical.encode()).hexdigest()
