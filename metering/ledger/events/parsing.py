"""From a request body to validated events: envelopes, CloudEvents, per-item checks.

The envelope (one event, `{"events": [...]}`, CloudEvents structured or batch) is checked
as a whole: a malformed one is a problem response and nothing is stored. Each item is then
checked on its own, so one bad event in a batch is reported by its index while the others
are stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from json.encoder import encode_basestring_ascii
from typing import Any

from metering.platform.api import problems
from metering.platform.api.inputs import MAX_JSON_DEPTH, json_fault, text_fault
from metering.platform.api.problems import ProblemError
from metering.platform.db import jsontext
from pricing_rules.event_json import EventFormatError, event_from_json
from pricing_rules.events import Event

JSON = "application/json"
CLOUDEVENT = "application/cloudevents+json"
CLOUDEVENTS_BATCH = "application/cloudevents-batch+json"
CONTENT_TYPES = (JSON, CLOUDEVENT, CLOUDEVENTS_BATCH)


@dataclass(frozen=True, slots=True)
class Envelope:
    """The items of a request; `batch` is false for a single event (answered differently).

    `checked`: no item holds anything `json_fault` refuses (`storable`), so the items need
    not be walked one by one."""

    items: list[Any]
    batch: bool
    checked: bool = False


@dataclass(frozen=True, slots=True)
class EventIn:
    """A valid event and the hash of its content (the same id must keep the same hash)."""

    event: Event
    content_hash: str
    properties_json: jsontext.Encoded
    cost_json: jsontext.Encoded | None


@dataclass(frozen=True, slots=True)
class Limits:
    max_batch_events: int
    max_properties_bytes: int
    future_tolerance: timedelta


class ItemError(ValueError):
    """Why one item of a request cannot be stored; `event_id` when the item had a usable one."""

    def __init__(self, detail: str, event_id: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.event_id = event_id


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`; no header means JSON."""
    if not content_type:
        return JSON
    return content_type.split(";", 1)[0].strip().lower()


def decode_json(body: bytes) -> Any:
    """The decoded body (numbers exact), or a 400 problem saying where it stops being JSON."""
    if not body.strip():
        raise problems.MALFORMED_JSON.error("The body is empty; send a JSON event or batch.")
    try:
        return jsontext.loads(body)
    except UnicodeDecodeError:
        raise problems.MALFORMED_JSON.error("The body is not UTF-8 text.") from None
    except ValueError as exc:
        raise problems.MALFORMED_JSON.error(f"The body is not valid JSON: {exc}.") from None


def _invalid_envelope(detail: str) -> ProblemError:
    return problems.INVALID_ENVELOPE.error(detail)


# What could make `json_fault` refuse a value, seen in the body's bytes: an escaped NUL or
# surrogate (`\\u0000`, `\\ud800`), a surrogate written as UTF-8 (the decoder lets those
# through), `NaN` or `Infinity`, and NUL bytes (a body in UTF-16 or UTF-32). Found inside an
# ordinary string (an escaped backslash before `u0000`, the word `NaN`), they only send the
# body down the item-by-item walk.
_SUSPECT_TEXT = (b"\x00", b"NaN", b"Infinity")
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_UTF8_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")


def _storable_text(body: bytes) -> bool:
    if any(text in body for text in _SUSPECT_TEXT):
        return False
    if b"\\u" in body and _SUSPECT_ESCAPE.search(body):
        return False
    return not (b"\xed" in body and _UTF8_SURROGATE.search(body))


def _nests_within(items: list[Any], max_depth: int) -> bool:
    """No object or array more than `max_depth` levels below the members of any item (what
    `json_fault` allows), level by level over the containers alone."""
    level: list[Any] = [item for item in items if type(item) is dict or type(item) is list]
    for _ in range(max_depth + 1):
        if not level:
            return True
        below: list[Any] = []
        for container in level:
            members = container.values() if type(container) is dict else container
            below += [m for m in members if type(m) is dict or type(m) is list]
        level = below
    return not level


def storable(body: bytes, items: list[Any]) -> bool:
    """Whether `json_fault` would find nothing in any of `items`, decoded from `body`: no
    suspect text in the body (`_SUSPECT_TEXT`) and nothing nested too deep. Scans of the body
    in C and a walk of the containers only, instead of a Python walk of every member of every
    event; when it says no, the items are walked one by one and the walk names the field."""
    return _storable_text(body) and _nests_within(items, MAX_JSON_DEPTH)


def _batch(body: bytes, items: Any, where: str, limit: int) -> Envelope:
    if not isinstance(items, list):
        raise _invalid_envelope(f"{where} must be a JSON array of events.")
    if not items:
        raise _invalid_envelope(f"{where} is empty; send at least one event.")
    if len(items) > limit:
        raise problems.TOO_MANY_EVENTS.error(
            f"The batch has {len(items)} events; at most {limit} are accepted per request. "
            "Split it into smaller batches."
        )
    return Envelope(items=items, batch=True, checked=storable(body, items))


def read_envelope(body: bytes, content_type: str | None, limits: Limits) -> Envelope:
    """The items of a request body in any of the accepted shapes; problems for the rest."""
    kind = media_type(content_type)
    if kind not in CONTENT_TYPES:
        raise problems.UNSUPPORTED_MEDIA_TYPE.error(
            f"Content-Type '{kind}' is not accepted; use {', '.join(CONTENT_TYPES)}."
        )
    payload = decode_json(body)
    if kind == CLOUDEVENTS_BATCH:
        return _batch(body, payload, "A CloudEvents batch", limits.max_batch_events)
    if not isinstance(payload, dict):
        raise _invalid_envelope(
            'Expected one event object or {"events": [...]}'
            + (
                " (a JSON array needs Content-Type application/cloudevents-batch+json)."
                if isinstance(payload, list)
                else "."
            )
        )
    if kind == JSON and "events" in payload and "id" not in payload:
        extra = sorted(set(payload) - {"events"})
        if extra:
            raise _invalid_envelope(f"Unknown member '{extra[0]}' next to 'events'.")
        return _batch(body, payload["events"], "events", limits.max_batch_events)
    if kind == CLOUDEVENT and "specversion" not in payload:
        raise _invalid_envelope("A structured CloudEvent needs 'specversion': '1.0'.")
    return Envelope(items=[payload], batch=False, checked=storable(body, [payload]))


def content_hash(
    event: Event,
    properties_json: str | None = None,
    cost_json: str | None = None,
) -> str:
    """SHA-256 of the event's canonical content: equal content, equal hash, whatever the
    shape it came in. The JSON of properties and cost may be passed in when already made."""
    if properties_json is None:
        properties_json = jsontext.dumps(event.properties)
    if cost_json is None and event.cost is not None:
        cost_json = jsontext.dumps(event.cost)
    # The text of json.dumps([...], separators=(",", ":")), made without the generic encoder.
    parts = (
        event.id,
        event.type,
        event.customer,
        jsontext.iso_utc(event.timestamp),
        properties_json,
    )
    canonical = ",".join(map(encode_basestring_ascii, parts))
    cost = "null" if cost_json is None else encode_basestring_ascii(cost_json)
    return hashlib.sha256(f"[{canonical},{cost}]".encode()).hexdigest()


def _item_id(item: Any) -> str | None:
    if isinstance(item, Mapping):
        value = item.get("id")
        if isinstance(value, str) and value.strip() and text_fault(value) is None:
            return value
    return None


def parse_item(item: Any, now: datetime, limits: Limits, checked: bool = False) -> EventIn:
    """One validated event, or an `ItemError` naming the field and what was expected.

    `checked`: `storable` said `json_fault` would find nothing in it."""
    if not checked:
        fault = json_fault(item)  # text no column holds, too deep, not a finite number
        if fault is not None:
            raise ItemError(str(fault), _item_id(item))
    try:
        event = event_from_json(item)
    except EventFormatError as exc:
        raise ItemError(str(exc), _item_id(item)) from None
    time_field = "time" if "specversion" in item else "timestamp"
    if event.timestamp > now + limits.future_tolerance:
        minutes = int(limits.future_tolerance.total_seconds() // 60)
        raise ItemError(
            f"{time_field}: {jsontext.iso_utc(event.timestamp)} is more than {minutes} minutes "
            f"in the future (server time {jsontext.iso_utc(now)})",
            event.id,
        )
    properties_json = jsontext.Encoded(jsontext.canonical(event.properties))
    size = len(properties_json)  # ASCII: `dumps` escapes every other character
    if size > limits.max_properties_bytes:
        field = "data" if time_field == "time" else "properties"
        raise ItemError(
            f"{field}: {size} bytes of JSON, over the limit of {limits.max_properties_bytes} "
            f"bytes ({limits.max_properties_bytes // 1024} KiB)",
            event.id,
        )
    cost_json = jsontext.encoded(event.cost)
    return EventIn(
        event=event,
        content_hash=content_hash(event, properties_json, cost_json),
        properties_json=properties_json,
        cost_json=cost_json,
    )
