"""JSON text with exact decimals: numbers are read as `Decimal` and written back unchanged.

Used for the JSON columns (properties, cost), for content hashes and for API responses
carrying event properties, so an amount like 1234.5678901234567890 is never rounded
through a float on its way in or out.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

# The C encoder cannot write a Decimal as a number, so `_default` turns one into a string
# carrying a per-process random marker, and the marked strings are unquoted afterwards.
# Real text cannot carry the marker: it starts with a NUL and a secret nobody sends.
_MARK = "\x00" + secrets.token_hex(8)
_MARKED_NUMBER = re.compile(r'"\\u0000' + _MARK[1:] + r'([-+.0-9Ee]+)"')


class Encoded(str):
    """JSON text already encoded by `dumps`: written to a JSON column as it is, not again."""

    __slots__ = ()


def encoded(value: Any) -> Encoded | None:
    """A value `loads` made (`canonical`) as canonical JSON text, ready for a JSON column
    (None stays SQL NULL)."""
    return None if value is None else Encoded(canonical(value))


def column_text(value: Any) -> str | None:
    """What a JSON column receives as text (None stays SQL NULL)."""
    return None if value is None else dumps(value)


_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_KEPT_DEPTH = 64
_TOO_DEEP = '"\\u0000nested too deep"'


def _cut_too_deep(text: str) -> str:
    """`text` with every object or array below `_KEPT_DEPTH` levels replaced by a string
    that no check lets through (it starts with a NUL), so what is left can be decoded."""
    pieces: list[str] = []
    kept_until = depth = 0
    cut_from: int | None = None
    for token in _TOKEN.finditer(text):
        mark = token.group()
        if mark[0] == '"':
            continue
        if mark in "[{":
            depth += 1
            if depth > _KEPT_DEPTH and cut_from is None:
                cut_from = token.start()
            continue
        if depth == _KEPT_DEPTH + 1 and cut_from is not None:
            pieces += [text[kept_until:cut_from], _TOO_DEEP]
            kept_until, cut_from = token.end(), None
        depth -= 1
    pieces.append(text[kept_until:])
    return "".join(pieces)


# msgspec reads and writes JSON several times faster than the standard library, with the
# same values (numbers with a point or exponent as `Decimal`, the same canonical text). What
# it refuses goes to the standard library, whose answers (NaN, lone surrogates, UTF-16, its
# error messages, the cut of deep JSON) stay as they were.
_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_CANONICAL = msgspec.json.Encoder(decimal_format="number", order="sorted")


def loads(text: str | bytes) -> Any:
    """Decode JSON, reading every non-integer number as a `Decimal`.

    JSON nested too deep for the decoder's recursion comes back with its deepest parts
    replaced (`_cut_too_deep`), so one deep event is refused by itself, never its batch.
    """
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError):  # msgspec.DecodeError, or text it cannot encode
        pass
    try:
        return json.loads(text, parse_float=Decimal)
    except RecursionError:
        decoded = text.decode() if isinstance(text, bytes) else text
        return json.loads(_cut_too_deep(decoded), parse_float=Decimal)


def canonical(value: Any) -> str:
    """`dumps(value)` of a value `loads` made and `parsing.json_fault` passed (objects,
    arrays, text, integers, finite decimals, booleans, null): the canonical text of event
    properties and costs, made ten times faster. msgspec writes text other than ASCII as it
    is and DEL unescaped, where `dumps` escapes them: such text goes to `dumps`."""
    text = _CANONICAL.encode(value)
    if text.isascii() and b"\x7f" not in text:
        return text.decode("ascii")
    return dumps(value)


def iso_utc(value: datetime) -> str:
    """`2026-11-28T14:03:00Z`: the one way times leave the service."""
    if value.tzinfo is not UTC:  # times parsed or made here are in UTC already
        value = value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be written as JSON")
        return _MARK + str(value)
    if isinstance(value, datetime):
        return iso_utc(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# Made once: `json.dumps` with arguments builds an encoder per call, most of the cost of
# encoding a small object (a close encodes one per invoice line).
_ENCODERS = {
    sort_keys: json.JSONEncoder(
        sort_keys=sort_keys, separators=(",", ":"), default=_default, allow_nan=False
    ).encode
    for sort_keys in (True, False)
}


def dumps(value: Any, *, sort_keys: bool = True) -> str:
    """Compact JSON; `Decimal` written as a JSON number, exactly; datetimes as UTC ISO 8601.

    Sorted keys (the default) make the text canonical, for content hashes. `Encoded` text
    is returned as it is, so JSON made once is never encoded twice.
    """
    if isinstance(value, Encoded):
        return value
    text = _ENCODERS[sort_keys](value)
    return _MARKED_NUMBER.sub(r"\1", text) if "\\u0000" in text else text
