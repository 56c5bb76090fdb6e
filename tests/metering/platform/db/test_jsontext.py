"""JSON read with msgspec, and written canonically with it, gives what the standard library
gives: the same values (exact decimals) and the same text, byte for byte, so content hashes
of events stored before and after stay equal. What msgspec refuses is read by the standard
library, with its answers and messages."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metering.platform.db import jsontext

# Text with every kind of character the two writers could treat differently: ASCII controls,
# DEL, quotes and backslashes, other languages, and characters outside the BMP.
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(max_codepoint=0x7F),
        st.sampled_from("é☃\U0001f600\u2028"),
    ),
    max_size=8,
)
NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=False, allow_infinity=False),
)
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)


def _standard(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


@settings(max_examples=400, deadline=None)
@given(VALUES, st.sampled_from(["", " ", "\n  "]))
def test_read_and_written_as_the_standard_library_does(value: Any, space: str) -> None:
    text = json.dumps(value, default=str, indent=len(space) or None)
    assert jsontext.canonical(_standard(text)) == jsontext.dumps(_standard(text))
    assert repr(jsontext.loads(text)) == repr(_standard(text))  # Decimal('1.0') != '1.00'
    assert repr(jsontext.loads(text.encode())) == repr(_standard(text))


def test_exact_numbers_keep_their_digits() -> None:
    text = '{"b": 1.50, "a": [1e3, -0.0, 12345678901234567890123, 0.1000000000000000055511]}'
    value = jsontext.loads(text)
    assert value == {
        "b": Decimal("1.50"),
        "a": [
            Decimal("1E+3"),
            Decimal("-0.0"),
            12345678901234567890123,
            Decimal("0.1000000000000000055511"),
        ],
    }
    assert jsontext.canonical(value) == (
        '{"a":[1E+3,-0.0,12345678901234567890123,0.1000000000000000055511],"b":1.50}'
    )


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": NaN}',  # the standard library's extension: refused later, by item
        b'"\\ud800"',  # a lone surrogate, named later by the checks
        '{"a": "é"}'.encode("utf-16"),  # UTF-16 with its byte order mark
    ],
)
def test_what_msgspec_refuses_is_read_by_the_standard_library(text: bytes) -> None:
    assert repr(jsontext.loads(text)) == repr(_standard(text))


def test_text_with_a_lone_surrogate_is_read_by_the_standard_library() -> None:
    text = '{"a": "\ud800"}'  # the character itself, which msgspec cannot encode to UTF-8
    assert jsontext.loads(text) == {"a": "\ud800"}


@pytest.mark.parametrize("text", [b'{"a": 1,}', b"[1, 2", b'{"a": "\t"}', b"01"])
def test_malformed_json_fails_with_the_standard_library_message(text: bytes) -> None:
    with pytest.raises(json.JSONDecodeError) as raised:
        jsontext.loads(text)
    with pytest.raises(json.JSONDecodeError) as expected:
        _standard(text)
    assert str(raised.value) == str(expected.value)


def test_deep_json_is_still_cut_not_refused_whole() -> None:
    deep = "[" * 5000 + "]" * 5000
    value = jsontext.loads('{"ok": 1, "deep": ' + deep + "}")
    assert value["ok"] == 1
