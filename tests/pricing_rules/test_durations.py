"""Durations as pricing people write them, and back."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from pricing_rules.durations import Duration, format_duration, parse_duration


class Window(BaseModel):
    after: Duration = timedelta(hours=72)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("72h", timedelta(hours=72)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("3d", timedelta(days=3)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("0", timedelta(0)),
        ("0h", timedelta(0)),
        (0, timedelta(0)),
    ],
)
def test_accepts_number_and_unit(text: str | int, expected: timedelta) -> None:
    assert Window(after=text).after == expected


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("72x", "'72x'"),
        ("-1h", "'-1h'"),
        ("h", "'h'"),
        ("72", "'72'"),
        (72, "'72'"),
        ("", "''"),
        ("1h 30m", "'1h 30m'"),
        ("12h1d", "'12h1d'"),
        ("1.5h", "'1.5h'"),
        (True, "'True'"),
    ],
)
def test_rejects_anything_else_saying_what_is_expected(value: object, shown: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_duration(value)
    assert str(raised.value) == (
        f"{shown} is not a duration; expected a number and a unit (s, m, h, d, w) "
        "such as 72h or 30m"
    )


def test_model_reports_the_duration_message() -> None:
    with pytest.raises(ValidationError) as raised:
        Window(after="72x")
    (error,) = raised.value.errors()
    assert str(error["ctx"]["error"]).startswith("'72x' is not a duration;")


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(hours=72), "3d"),
        (timedelta(hours=36), "1d12h"),
        (timedelta(minutes=30), "30m"),
        (timedelta(weeks=2, seconds=1), "2w1s"),
        (timedelta(0), "0"),
    ],
)
def test_formats_short_form_that_reads_back(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text
    assert parse_duration(text) == duration


def test_serialises_to_short_form() -> None:
    assert Window(after="90m").model_dump(mode="json") == {"after": "1h30m"}
    assert json.loads(Window().model_dump_json()) == {"after": "3d"}


def test_json_schema_is_text_pattern_or_zero() -> None:
    schema = Window.model_json_schema()["properties"]["after"]
    text, zero = schema["anyOf"]
    assert text["type"] == "string"
    assert text["pattern"].startswith("^")
    assert zero == {"type": "integer", "const": 0}


def test_sub_second_duration_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="whole seconds"):
        format_duration(timedelta(milliseconds=5))


def test_missing_duration_says_one_is_needed() -> None:
    with pytest.raises(ValueError) as raised:
        parse_duration(None)
    assert str(raised.value) == (
        "a duration is needed here; expected a number and a unit (s, m, h, d, w) such as 72h or 30m"
    )
