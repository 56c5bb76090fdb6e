"""Durations written the way people say them: `72h`, `30m`, `1d12h`, `2w`, or `0`.

A duration is a `timedelta` inside the code and the short text form in YAML, JSON and the
JSON Schema, so a rule file exported or shown back reads like the one that was written.
Units must appear largest first and at most once, so every duration has one spelling.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

UNIT_SECONDS: Final = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}

PATTERN: Final = r"^(?:0|(?=\d)(?:\d+w)?(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?)$"
_DURATION_RE: Final = re.compile(PATTERN)
_PART_RE: Final = re.compile(r"(\d+)([wdhms])")
_EXPECTED: Final = "expected a number and a unit (s, m, h, d, w) such as 72h or 30m"


def _not_a_duration(text: str) -> ValueError:
    return ValueError(f"{text!r} is not a duration; {_EXPECTED}")


def parse_duration(value: Any) -> timedelta:
    """Read a duration from rule-file text; raise ValueError saying what was expected."""
    if isinstance(value, timedelta):
        if value < timedelta(0) or value.microseconds:
            raise ValueError(f"a duration must be whole non-negative seconds, got {value}")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value == 0:
            return timedelta(0)
        raise _not_a_duration(str(value))
    if value is None:
        raise ValueError(f"a duration is needed here; {_EXPECTED}")
    if not isinstance(value, str):
        raise _not_a_duration(str(value))
    if not _DURATION_RE.match(value):
        raise _not_a_duration(value)
    seconds = sum(int(number) * UNIT_SECONDS[unit] for number, unit in _PART_RE.findall(value))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{value!r} is too long for a duration") from None


def format_duration(duration: timedelta) -> str:
    """The shortest text `parse_duration` reads back as `duration` (`259200s` -> `3d`)."""
    if duration < timedelta(0) or duration.microseconds:
        raise ValueError(f"cannot write {duration} as a duration of whole seconds")
    remaining = duration.days * 86400 + duration.seconds
    if remaining == 0:
        return "0"
    parts: list[str] = []
    for unit, size in UNIT_SECONDS.items():
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            # `0` unquoted is a YAML integer, so the schema takes it as well as the text forms.
            "anyOf": [{"type": "string", "pattern": PATTERN}, {"type": "integer", "const": 0}],
            "description": "A number and a unit (s, m, h, d, w), largest unit first: "
            "72h, 30m, 1d12h; or 0.",
            "examples": ["72h", "30m", "1d12h", 0],
        }
    ),
]
