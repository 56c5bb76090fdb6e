"""Events from decoded JSON: our native shape or a CloudEvents 1.0 structured event.

One parser for every door (the events file of `metering rules price`, the webhook, the REST
API), so an event means the same wherever it comes from. Numbers should be decoded with
`parse_float=Decimal` upstream so amounts in properties stay exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from typing import Any

from pricing_rules.costs import CostFormatError, parse_cost
from pricing_rules.events import Event

MAX_ID_LENGTH = 200


class EventFormatError(ValueError):
    """An event that cannot be read; `field` names the offending member."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def parse_timestamp(value: object, field: str = "timestamp") -> datetime:
    """An ISO 8601 date-time with a timezone, converted to UTC."""
    if not isinstance(value, str):
        raise EventFormatError(
            field, f"expected an ISO 8601 date-time string, got {_describe(value)}"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EventFormatError(
            field, f"expected an ISO 8601 date-time such as 2026-11-28T14:03:00Z, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        raise EventFormatError(
            field, f"{value!r} has no timezone; add Z or an offset such as +01:00"
        )
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise EventFormatError(
            field, f"{value!r} is outside the years 1 to 9999 once converted to UTC"
        ) from None


def event_from_json(item: object) -> Event:
    """Read one event; CloudEvents are recognised by their `specversion` member."""
    if not isinstance(item, Mapping):
        raise EventFormatError("", f"expected an event object, got {_describe(item)}")
    if "specversion" in item:
        return _from_cloudevent(item)
    if not _NATIVE_MEMBERS.issuperset(item):
        _reject_unknown(item, _NATIVE_MEMBERS)
    return Event(
        id=_text(item, "id", max_length=MAX_ID_LENGTH),
        type=_text(item, "type"),
        customer=_text(item, "customer"),
        timestamp=parse_timestamp(_required(item, "timestamp")),
        properties=_object(item, "properties"),
        cost=_cost(item),
    )


_NATIVE_MEMBERS = frozenset({"id", "type", "customer", "timestamp", "properties", "cost"})


def _from_cloudevent(item: Mapping[str, Any]) -> Event:
    if item.get("specversion") != "1.0":
        raise EventFormatError(
            "specversion", f"expected CloudEvents specversion '1.0', got {item['specversion']!r}"
        )
    _text(item, "source")
    data = item.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise EventFormatError("data", f"expected a JSON object, got {_describe(data)}")
    return Event(
        id=_text(item, "id", max_length=MAX_ID_LENGTH),
        type=_text(item, "type"),
        customer=_text(item, "subject"),
        timestamp=parse_timestamp(_required(item, "time"), "time"),
        properties=dict(data),
        cost=_cost(item),
    )


def _reject_unknown(item: Mapping[str, Any], allowed: AbstractSet[str]) -> None:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise EventFormatError(
            unknown[0],
            f"unknown member; expected only {', '.join(sorted(allowed))}",
        )


def _required(item: Mapping[str, Any], field: str) -> Any:
    if field not in item or item[field] is None:
        raise EventFormatError(field, "is required")
    return item[field]


def _text(item: Mapping[str, Any], field: str, max_length: int = 200) -> str:
    value = item.get(field)
    if type(value) is str and 0 < len(value) <= max_length and not value[0].isspace():
        return value  # the common case, checked in one step (every event has three)
    value = _required(item, field)
    if not isinstance(value, str):
        raise EventFormatError(field, f"expected a string, got {_describe(value)}")
    if not value.strip():
        raise EventFormatError(field, "must not be empty")
    if len(value) > max_length:
        raise EventFormatError(field, f"is longer than {max_length} characters")
    return value


def _object(item: Mapping[str, Any], field: str) -> dict[str, Any]:
    value = item.get(field)
    if type(value) is dict:
        return dict(value)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EventFormatError(field, f"expected a JSON object, got {_describe(value)}")
    return dict(value)


def _optional_object(item: Mapping[str, Any], field: str) -> dict[str, Any] | None:
    return _object(item, field) if item.get(field) is not None else None


def _cost(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The event's cost, checked for shape; pricing it waits for the plan version in force."""
    cost = _optional_object(item, "cost")
    if cost is not None:
        try:
            parse_cost(cost)
        except CostFormatError as error:
            raise EventFormatError(
                f"cost.{error.field}" if error.field else "cost", error.message
            ) from None
    return cost


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
