"""JSON text with exact decimals: numbers are read as `Decimal` and written back unchanged.

Used for the JSON columns (properties, cost), for content hashes and for API responses
carrying event properties, so an amount like 1234.5678901234567890 is never rounded
through a float on its way in or out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

_encode_string = json.encoder.encode_basestring_ascii


def loads(text: str | bytes) -> Any:
    """Decode JSON, reading every non-integer number as a `Decimal`."""
    return json.loads(text, parse_float=Decimal)


def dumps(value: Any, *, sort_keys: bool = True) -> str:
    """Compact JSON; `Decimal` written as a JSON number, exactly; datetimes as UTC ISO 8601.

    Sorted keys (the default) make the text canonical, for content hashes.
    """
    parts: list[str] = []
    _write(value, parts, sort_keys)
    return "".join(parts)


def iso_utc(value: datetime) -> str:
    """`2026-11-28T14:03:00Z`: the one way times leave the service."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _write(value: Any, out: list[str], sort_keys: bool) -> None:
    if isinstance(value, str):
        out.append(_encode_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be written as JSON")
        out.append(str(value))
    elif isinstance(value, float):
        out.append(json.dumps(value, allow_nan=False))
    elif isinstance(value, datetime):
        out.append(_encode_string(iso_utc(value)))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key in sorted(value) if sort_keys else value:
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {key!r}")
            if not first:
                out.append(",")
            first = False
            out.append(_encode_string(key))
            out.append(":")
            _write(value[key], out, sort_keys)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out, sort_keys)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
