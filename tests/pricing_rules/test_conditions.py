"""`where` conditions: parsing, in-memory matching, errors, schema and serialization."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from pricing_rules.conditions import (
    AllOf,
    AnyOf,
    Compare,
    Exists,
    Not,
    Where,
    parse_where,
)
from pricing_rules.errors import RuleFileError, RuleValueError, RuleValueErrors
from pricing_rules.events import Event
from pricing_rules.loader import load_rules

WHERE = TypeAdapter(Where)
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ABSENT = object()


def event(value: Any = ABSENT, **fields: Any) -> Event:
    """An event whose `properties.v` is `value` (absent when not given)."""
    properties = {} if value is ABSENT else {"v": value}
    base: dict[str, Any] = {
        "id": "evt_1",
        "type": "conversation.resolved",
        "customer": "acme",
        "timestamp": NOW,
        "properties": properties,
    }
    base.update(fields)
    return Event(**base)


def holds(where: Any, ev: Event) -> bool:
    return WHERE.validate_python(where).compile()(ev)


def on_v(op: str, operand: Any, value: Any = ABSENT) -> bool:
    return holds({"properties.v": {op: operand}}, event(value))


# --- operators ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operand", "value", "expected"),
    [
        ("ai", "ai", True),
        ("ai", "human", False),
        ("ai", ABSENT, False),
        ("ai", None, False),
        ("1", 1, False),
        (1, "1", False),
        (1, 1, True),
        (1, 1.0, True),
        (Decimal("1.0"), 1, True),
        (Decimal("0.1"), 0.1, True),
        (Decimal("0.3"), 0.1 + 0.2, False),
        (Decimal("2.50"), Decimal("2.5"), True),
        (1, True, False),
        (True, 1, False),
        (True, True, True),
        (False, False, True),
        (False, 0, False),
        (None, None, True),
        (None, ABSENT, False),
        (None, "null", False),
        ("x", ["x"], False),
        ("x", {"x": 1}, False),
    ],
)
def test_eq_is_a_type_strict_json_comparison(operand: Any, value: Any, expected: bool) -> None:
    assert on_v("eq", operand, value) is expected
    assert on_v("ne", operand, value) is (not expected)


def test_ne_holds_for_a_missing_path_and_for_another_type() -> None:
    assert on_v("ne", "test", ABSENT) is True
    assert on_v("ne", 1, "1") is True
    assert on_v("ne", None, None) is False


@pytest.mark.parametrize(
    ("operand", "value", "expected"),
    [
        (["chat", "email"], "chat", True),
        (["chat", "email"], "phone", False),
        (["chat", "email"], ABSENT, False),
        (["chat", "email"], None, False),
        (["chat", "email"], ["chat"], False),
        (["chat", "email"], {"chat": 1}, False),
        (["gold", 1, None], 1.0, True),
        (["gold", 1, None], None, True),
        (["gold", 1, None], True, False),
        (["gold", 1, None], "1", False),
        ([True], 1, False),
        ([True], True, True),
        ([False], False, True),
        ([0], False, False),
        ([Decimal("2.5"), 7], 2.5, True),
        ([Decimal("2.5"), 7], Decimal("7.00"), True),
        ([Decimal("2.5"), 7], 2.6, False),
    ],
)
def test_in_matches_any_listed_value_strictly(operand: Any, value: Any, expected: bool) -> None:
    assert on_v("in", operand, value) is expected
    assert on_v("not_in", operand, value) is (not expected)


@pytest.mark.parametrize(
    ("op", "operand", "value", "expected"),
    [
        ("gt", 3, 4, True),
        ("gt", 3, 3, False),
        ("gt", 3, 3.0000001, True),
        ("gte", 3, 3.0, True),
        ("gte", 3, 2.999, False),
        ("lt", 10, 9.5, True),
        ("lt", 10, 10, False),
        ("lte", 10, Decimal("10.00"), True),
        ("gt", Decimal("0.1"), 0.1, False),
        ("gte", Decimal("0.1"), 0.1, True),
        ("lt", Decimal("0.1"), 0.1, False),
        ("lte", Decimal("0.1"), 0.1, True),
        ("gt", Decimal("0.1"), 0.10000000000000002, True),
        ("gt", "b", "c", True),
        ("gt", "b", "ab", False),
        ("lt", "b", "B", True),
        ("gte", "2025-03-01", "2025-03-01T00:00:00Z", True),
        ("gt", 3, "4", False),
        ("lt", "4", 3, False),
        ("gt", 0, True, False),
        ("lt", 1, False, False),
        ("gt", 0, None, False),
        ("lt", 1, None, False),
        ("gt", 0, ABSENT, False),
        ("lt", 1, ABSENT, False),
        ("gt", 0, [1], False),
        ("gt", 0, float("inf"), False),
        ("lt", 0, float("-inf"), False),
        ("gt", 0, float("nan"), False),
    ],
)
def test_ordering_compares_numbers_with_numbers_and_strings_with_strings(
    op: str, operand: Any, value: Any, expected: bool
) -> None:
    assert on_v(op, operand, value) is expected


@pytest.mark.parametrize(
    ("present", "value", "expected"),
    [(True, "x", True), (True, None, True), (True, ABSENT, False), (False, None, False)],
)
def test_exists_tells_present_including_null_from_absent(
    present: bool, value: Any, expected: bool
) -> None:
    assert on_v("exists", present, value) is expected
    assert on_v("exists", not present, value) is (not expected)


def test_nested_paths_read_through_objects_only() -> None:
    where = {"properties.lead.score": {"gte": 70}}
    assert holds(where, event(properties={"lead": {"score": 80}})) is True
    assert holds(where, event(properties={"lead": {"score": 60}})) is False
    assert holds(where, event(properties={"lead": "hot"})) is False
    assert holds(where, event(properties={"lead": [80]})) is False
    assert holds(where, event(properties={})) is False
    exists = {"properties.lead.score": {"exists": False}}
    assert holds(exists, event(properties={"lead": None})) is True


def test_root_fields_and_cost_paths() -> None:
    assert holds({"customer": "acme"}, event()) is True
    assert holds({"customer": "globex"}, event()) is False
    assert holds({"type": {"in": ["deal.closed", "conversation.resolved"]}}, event()) is True
    assert holds({"id": {"ne": "evt_1"}}, event()) is False
    assert holds({"cost.usd": {"gt": 0}}, event(cost={"usd": 0.02})) is True
    assert holds({"cost.usd": {"exists": True}}, event(cost=None)) is False


# --- groups -------------------------------------------------------------------------------


BRIEF_WHERE: dict[str, Any] = {
    "properties.channel": {"in": ["chat", "email"]},
    "properties.handled_by": {"eq": "ai"},
    "properties.score": {"gte": 3, "lt": 10},
    "customer": "acme",
    "any_of": [{"properties.tier": {"eq": "gold"}}, {"properties.vip": {"eq": True}}],
    "not": {"properties.test": {"eq": True}},
}
GOOD = {"channel": "chat", "handled_by": "ai", "score": 5, "tier": "gold"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, True),
        ({"channel": "phone"}, False),
        ({"handled_by": "human"}, False),
        ({"score": 2}, False),
        ({"score": 10}, False),
        ({"score": 9.99}, True),
        ({"tier": "silver"}, False),
        ({"tier": "silver", "vip": True}, True),
        ({"tier": None, "vip": 1}, False),
        ({"test": True}, False),
        ({"test": "true"}, True),
    ],
)
def test_every_entry_of_a_where_mapping_must_hold(change: dict[str, Any], expected: bool) -> None:
    assert holds(BRIEF_WHERE, event(properties={**GOOD, **change})) is expected


def test_another_customer_fails_the_bare_value() -> None:
    assert holds(BRIEF_WHERE, event(properties=GOOD, customer="globex")) is False


def test_all_of_groups_and_empty_where_holds() -> None:
    where = {"all_of": [{"properties.a": 1}, {"properties.b": {"ne": 2}}]}
    assert holds(where, event(properties={"a": 1})) is True
    assert holds(where, event(properties={"a": 1, "b": 2})) is False
    assert holds({}, event()) is True
    assert holds({"all_of": []}, event()) is True


def test_any_of_with_three_and_nested_groups() -> None:
    where = {
        "any_of": [
            {"properties.a": 1},
            {"properties.b": 2},
            {"not": {"any_of": [{"properties.c": {"exists": False}}, {"properties.c": 0}]}},
        ]
    }
    assert holds(where, event(properties={"a": 1})) is True
    assert holds(where, event(properties={"b": 2})) is True
    assert holds(where, event(properties={"c": 5})) is True
    assert holds(where, event(properties={"c": 0})) is False
    assert holds(where, event(properties={})) is False


def test_parse_builds_the_typed_variants() -> None:
    assert parse_where({"properties.a": {"in": ["x", 1.5]}}) == Compare(
        path="properties.a", op="in", value=("x", Decimal("1.5"))
    )
    assert parse_where({"properties.a": {"exists": False}}) == Exists(
        path="properties.a", present=False
    )
    parsed = parse_where({"properties.s": {"gte": 3, "lt": 10}, "not": {"customer": "x"}})
    assert parsed == AllOf(
        items=(
            Compare(path="properties.s", op="gte", value=3),
            Compare(path="properties.s", op="lt", value=10),
            Not(item=Compare(path="customer", op="eq", value="x")),
        )
    )
    assert isinstance(parse_where({"any_of": [{"customer": "a"}, {"customer": "b"}]}), AnyOf)


def test_variants_built_in_code_match_like_parsed_ones() -> None:
    condition = AllOf(items=(Compare(path="properties.v", op="not_in", value=[1, "x"]),))
    assert condition.compile()(event(2)) is True
    assert condition.compile()(event(1.0)) is False
    with pytest.raises(ValidationError, match="in needs a list of values, not 'x'"):
        Compare(path="properties.v", op="in", value="x")
    with pytest.raises(ValidationError, match="is not an event path"):
        Exists(path="properties")


# --- errors -------------------------------------------------------------------------------


def problems(where: Any) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        WHERE.validate_python(where)
    (error,) = caught.value.errors()
    raised = error["ctx"]["error"]
    found = raised.errors if isinstance(raised, RuleValueErrors) else [raised]
    assert all(isinstance(item, RuleValueError) for item in found)
    return [(item.subpath, item.message) for item in found]


OPERATOR_LIST = "eq, ne, in, not_in, gt, gte, lt, lte, exists"


def test_unknown_operator_names_the_path_and_the_operators() -> None:
    assert problems({"properties.channel": {"equals": "chat"}}) == [
        (
            ("properties.channel", "equals"),
            f"unknown operator 'equals' for properties.channel; expected one of {OPERATOR_LIST}",
        )
    ]


@pytest.mark.parametrize(
    ("where", "subpath", "message"),
    [
        (
            {"properties.channel": {"in": "chat"}},
            ("properties.channel", "in"),
            "properties.channel: in needs a list of values, not 'chat'",
        ),
        (
            {"properties.channel": {"not_in": []}},
            ("properties.channel", "not_in"),
            "properties.channel: not_in needs at least one value",
        ),
        (
            {"properties.channel": {"in": ["a", ["b"]]}},
            ("properties.channel", "in"),
            "properties.channel: in needs a list of single values, not one with a list",
        ),
        (
            {"properties.score": {"gt": True}},
            ("properties.score", "gt"),
            "properties.score: gt needs a number or a string, not true",
        ),
        (
            {"properties.score": {"lte": None}},
            ("properties.score", "lte"),
            "properties.score: lte needs a number or a string, not null",
        ),
        (
            {"properties.score": {"lt": [1]}},
            ("properties.score", "lt"),
            "properties.score: lt needs a single value, not a list",
        ),
        (
            {"properties.channel": {"eq": ["chat", "email"]}},
            ("properties.channel", "eq"),
            "properties.channel: eq needs a single value, not a list, use in",
        ),
        (
            {"properties.ok": {"exists": "yes"}},
            ("properties.ok", "exists"),
            "properties.ok: exists needs true or false, not 'yes'",
        ),
        (
            {"properties.channel": ["chat", "email"]},
            ("properties.channel",),
            "properties.channel: a list needs an operator, such as {in: [...]}",
        ),
        (
            {"properties.channel": {}},
            ("properties.channel",),
            f"no operator for properties.channel; expected one of {OPERATOR_LIST}",
        ),
        (
            {"properties.x": {"eq": float("nan")}},
            ("properties.x", "eq"),
            "properties.x: nan is not a string, number, true, false or null",
        ),
        ({"any_of": []}, ("any_of",), "any_of needs at least one condition"),
        ({"any_of": {"customer": "a"}}, ("any_of",), "any_of needs a list of where mappings"),
        (
            {"any_of": ["customer"]},
            ("any_of", 0),
            "a where condition is a mapping of paths to conditions, not 'customer'",
        ),
        (
            {"timestamp": {"gt": "2025-01-01"}},
            ("timestamp",),
            "where cannot test timestamp; periods and settle windows handle time",
        ),
        (
            {"properties": {"eq": 1}},
            ("properties",),
            "'properties' is not an event path; expected one of id, type, customer, "
            "timestamp, or a dotted path under properties or cost such as "
            "properties.conversation_id",
        ),
        (
            "customer == acme",
            (),
            "a where condition is a mapping of paths to conditions, not 'customer == acme'",
        ),
    ],
)
def test_each_fault_names_what_was_expected_at_its_subpath(
    where: Any, subpath: tuple[str | int, ...], message: str
) -> None:
    assert problems(where) == [(subpath, message)]


def test_all_faults_of_one_where_are_reported_together_with_nested_subpaths() -> None:
    found = problems(
        {
            "properties.channel": {"equals": "chat", "in": "chat"},
            "any_of": [{"properties.tier": {"eq": "gold"}}, {"properties.vip": {"exists": 1}}],
            "not": {"all_of": [{"propertie.test": True}]},
        }
    )
    assert [subpath for subpath, _ in found] == [
        ("properties.channel", "equals"),
        ("properties.channel", "in"),
        ("any_of", 1, "properties.vip", "exists"),
        ("not", "all_of", 0, "propertie.test"),
    ]


# --- schema and serialization -------------------------------------------------------------


class Holder(BaseModel):
    where: Where | None = None


def test_json_schema_describes_the_mapping_form_for_editors() -> None:
    schema = Holder.model_json_schema()
    mapping = schema["$defs"]["WhereMapping"]
    assert set(mapping["properties"]) == {"any_of", "all_of", "not"}
    assert mapping["properties"]["any_of"]["minItems"] == 1
    assert mapping["properties"]["not"]["$ref"] == "#/$defs/WhereMapping"
    assert mapping["additionalProperties"] is False
    ((pattern, entry),) = mapping["patternProperties"].items()
    operators = entry["anyOf"][1]["properties"]
    assert list(operators) == OPERATOR_LIST.split(", ")
    assert operators["exists"] == {"type": "boolean"}
    assert re.match(pattern, "properties.lead.score")
    assert not re.match(pattern, "timestamp")
    assert not re.match(pattern, "any_of")


def test_dump_gives_the_mapping_form_back_and_it_parses_to_the_same_condition() -> None:
    holder = Holder(where=BRIEF_WHERE | {"properties.ratio": {"lt": Decimal("0.25")}})
    dumped = holder.model_dump(mode="json")["where"]
    assert dumped["customer"] == {"eq": "acme"}
    assert dumped["properties.score"] == {"gte": 3, "lt": 10}
    assert dumped["properties.ratio"] == {"lt": 0.25}
    assert Holder.model_validate_json(holder.model_dump_json()) == holder


def test_dump_keeps_two_tests_of_one_operator_apart() -> None:
    condition = AllOf(
        items=(
            Compare(path="properties.a", op="ne", value=1),
            Compare(path="properties.a", op="ne", value=2),
            Not(item=Compare(path="customer", op="eq", value="x")),
            Not(item=Compare(path="customer", op="eq", value="y")),
        )
    )
    mapping = condition.to_mapping()
    assert mapping == {
        "properties.a": {"ne": 1},
        "not": {"customer": {"eq": "x"}},
        "all_of": [{"properties.a": {"ne": 2}}, {"not": {"customer": {"eq": "y"}}}],
    }
    reparsed = parse_where(mapping).compile()
    for value, expected in [(1, False), (2, False), (3, True)]:
        assert reparsed(event(properties={"a": value})) is expected


def test_rule_file_errors_point_at_the_line_of_each_fault() -> None:
    text = """\
plan: support-agent
version: 1
currency: usd
outcomes:
  resolved:
    event: conversation.resolved
    where:
      properties.channel: {equals: chat}
      properties.score: {gte: true, lt: 10}
      any_of:
        - {properties.tier: {eq: gold}}
        - {properties.vip: {exists: maybe}}
      not: {propertie.test: true}
charges:
  - {outcome: resolved, model: per_unit, unit_price: "0.99"}
"""
    with pytest.raises(RuleFileError) as caught:
        load_rules(text, "support.yaml")
    assert [(error.line, error.message) for error in caught.value.errors] == [
        (8, f"unknown operator 'equals' for properties.channel; expected one of {OPERATOR_LIST}"),
        (9, "properties.score: gte needs a number or a string, not true"),
        (12, "properties.vip: exists needs true or false, not 'maybe'"),
        (
            13,
            "'propertie.test' is not an event path; expected one of id, type, customer, "
            "timestamp, or a dotted path under properties or cost such as "
            "properties.conversation_id",
        ),
    ]


def test_yaml_decimals_keep_their_exact_value() -> None:
    text = """\
plan: p
version: 1
currency: usd
outcomes:
  scored:
    event: lead.scored
    where: {properties.score: {gte: 0.7}}
charges:
  - {outcome: scored, model: per_unit, unit_price: "1"}
"""
    where = load_rules(text).outcomes["scored"].where
    assert where == Compare(path="properties.score", op="gte", value=Decimal("0.7"))
    assert where.compile()(event(properties={"score": 0.7})) is True
    assert where.compile()(event(properties={"score": 0.69999})) is False
