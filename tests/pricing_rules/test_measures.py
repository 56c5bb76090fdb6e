"""`measure`: parsing, per-event values and their problems, aggregation."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from pricing_rules.errors import RuleFileError, RuleValueError
from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.measures import (
    Count,
    Latest,
    Max,
    Measure,
    MeasureProblem,
    MeasureValue,
    Sum,
    Unique,
)

MEASURE = TypeAdapter(Measure)
T0 = datetime(2025, 3, 1, tzinfo=UTC)
ABSENT = object()


def event(amount: Any = ABSENT, event_id: str = "evt_1", **properties: Any) -> Event:
    if amount is not ABSENT:
        properties["amount"] = amount
    return Event(event_id, "deal.closed", "acme", T0, properties)


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("count", Count()),
        ({"sum": "properties.amount"}, Sum(path="properties.amount")),
        ({"max": "properties.seats"}, Max(path="properties.seats")),
        ({"latest": "cost.usd"}, Latest(path="cost.usd")),
        ({"unique": "properties.user.id"}, Unique(path="properties.user.id")),
    ],
)
def test_yaml_forms_parse_to_variants_and_dump_back(raw: Any, expected: Any) -> None:
    measure = MEASURE.validate_python(raw)
    assert measure == expected
    assert MEASURE.dump_python(measure) == raw
    assert MEASURE.validate_json(MEASURE.dump_json(measure)) == expected


def test_count_is_the_default_and_dumps_as_count() -> None:
    class Spec(BaseModel):
        measure: Measure = Count()

    assert Spec().measure == Count()
    assert Spec().model_dump() == {"measure": "count"}
    schema = Spec.model_json_schema()["properties"]["measure"]
    assert schema["default"] == "count"
    assert schema["anyOf"][0]["const"] == "count"
    assert [list(option["properties"]) for option in schema["anyOf"][1:]] == [
        ["sum"],
        ["max"],
        ["latest"],
        ["unique"],
    ]


def test_each_variant_names_its_sql_aggregate() -> None:
    assert [m.sql_aggregate for m in (Count(), Sum(path="properties.a"))] == ["count", "sum"]
    assert Max(path="properties.a").sql_aggregate == "max"
    assert Latest(path="properties.a").sql_aggregate == "latest"
    assert Unique(path="properties.a").sql_aggregate == "count_distinct"


EXPECTED = "expected count or one of sum, max, latest, unique with a path"


@pytest.mark.parametrize(
    ("raw", "subpath", "message"),
    [
        ("avg", (), f"unknown measure 'avg'; {EXPECTED}"),
        ({"avg": "properties.amount"}, ("avg",), f"unknown measure 'avg'; {EXPECTED}"),
        (5, (), f"unknown measure 5; {EXPECTED}"),
        (None, (), f"unknown measure null; {EXPECTED}"),
        ("sum", (), "measure sum needs a path, such as {sum: properties.amount}"),
        ({"count": "properties.id"}, ("count",), "count takes no path; write measure: count"),
        ({"sum": "a", "max": "b"}, (), "a measure has one kind; got sum, max"),
        (
            {"sum": "amount"},
            ("sum",),
            "'amount' is not an event path; expected one of id, type, customer, timestamp, "
            "or a dotted path under properties or cost such as properties.conversation_id",
        ),
    ],
)
def test_faults_say_what_was_expected_at_their_subpath(
    raw: Any, subpath: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        MEASURE.validate_python(raw)
    (error,) = caught.value.errors()
    cause = error["ctx"]["error"]
    assert isinstance(cause, RuleValueError)
    assert (cause.subpath, cause.message) == (subpath, message)


# --- values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (3, Decimal("3")),
        (-2, Decimal("-2")),
        (Decimal("12.50"), Decimal("12.50")),
        (0.1, Decimal("0.1")),
        (1234.5, Decimal("1234.5")),
        (1e22, Decimal("1E+22")),
        ("12.50", Decimal("12.50")),
        ("-3", Decimal("-3")),
        (".5", Decimal("0.5")),
        ("1e3", Decimal("1E+3")),
    ],
)
def test_number_values_are_exact_decimals(raw: Any, expected: Decimal) -> None:
    for kind in (Sum, Max, Latest):
        value = kind(path="properties.amount").compile_value()(event(raw))
        assert isinstance(value, Decimal)
        assert value == expected
        assert str(value) == str(expected)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (ABSENT, "properties.amount is missing"),
        ("abc", "properties.amount is 'abc', not a number"),
        ("12,50", "properties.amount is '12,50', not a number"),
        (" 12", "properties.amount is ' 12', not a number"),
        ("NaN", "properties.amount is 'NaN', not a number"),
        ("", "properties.amount is '', not a number"),
        (True, "properties.amount is true, not a number"),
        (None, "properties.amount is null, not a number"),
        ({"usd": 5}, 'properties.amount is {"usd": 5}, not a number'),
        ([5], "properties.amount is [5], not a number"),
        (float("inf"), "properties.amount is inf, not a number"),
        (Decimal("NaN"), "properties.amount is NaN, not a number"),
    ],
)
def test_number_value_problems_name_the_path_and_the_value(raw: Any, message: str) -> None:
    read = Sum(path="properties.amount").compile_value()
    with pytest.raises(MeasureProblem) as caught:
        read(event(raw))
    assert caught.value.message == message
    assert str(caught.value) == message


def test_nested_values_and_missing_parents() -> None:
    read = Max(path="properties.deal.amount").compile_value()
    assert read(event(deal={"amount": "99.90"})) == Decimal("99.90")
    with pytest.raises(MeasureProblem, match=r"^properties\.deal\.amount is missing$"):
        read(event(deal="big"))


def test_count_reads_no_value() -> None:
    assert Count().compile_value()(event()) is None


def test_unique_reads_the_canonical_key() -> None:
    read = Unique(path="properties.user").compile_value()
    assert read(event(user="u_1")) == "u_1"
    assert read(event(user=42)) == "42"
    assert read(event(user=True)) == "true"
    assert read(event(user={"b": 1, "a": 2})) == '{"a":2,"b":1}'
    with pytest.raises(MeasureProblem, match=r"^properties\.user is missing$"):
        read(event())
    with pytest.raises(MeasureProblem, match=r"^properties\.user is null$"):
        read(event(user=None))


# --- aggregation --------------------------------------------------------------------------


def aggregate(raw: Any, adds: Sequence[tuple[MeasureValue, datetime, str]]) -> Decimal:
    accumulator = MEASURE.validate_python(raw).accumulator()
    for value, timestamp, event_id in adds:
        accumulator.add(value, timestamp, event_id)
    return accumulator.result()


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_count_counts_adds() -> None:
    assert aggregate("count", []) == 0
    assert aggregate("count", [(None, at(0), "a"), (None, at(1), "b"), (None, at(1), "c")]) == 3


def test_sum_is_exact_to_the_cent() -> None:
    values = [Decimal("0.10"), Decimal("0.20"), Decimal("1999.99"), Decimal("-0.29")]
    total = aggregate({"sum": "properties.amount"}, [(v, at(0), "e") for v in values])
    assert total == Decimal("2000.00")
    assert aggregate({"sum": "properties.amount"}, []) == 0


def test_max_is_the_largest_value_and_zero_without_values() -> None:
    values = [Decimal("-5"), Decimal("12.5"), Decimal("3")]
    assert aggregate({"max": "properties.seats"}, [(v, at(0), "e") for v in values]) == Decimal(
        "12.5"
    )
    negatives = [(Decimal("-5"), at(0), "a"), (Decimal("-2"), at(1), "b")]
    assert aggregate({"max": "properties.seats"}, negatives) == Decimal("-2")
    assert aggregate({"max": "properties.seats"}, []) == 0


def test_latest_takes_the_greatest_timestamp_then_event_id_in_any_order() -> None:
    adds: list[tuple[MeasureValue, datetime, str]] = [
        (Decimal("1"), at(5), "evt_a"),
        (Decimal("2"), at(9), "evt_b"),
        (Decimal("3"), at(9), "evt_c"),
        (Decimal("4"), at(7), "evt_z"),
    ]
    for order in itertools.permutations(adds):
        assert aggregate({"latest": "properties.gauge"}, list(order)) == Decimal("3")
    assert aggregate({"latest": "properties.gauge"}, []) == 0


def test_unique_counts_distinct_keys() -> None:
    keys = ["u_1", "u_2", "u_1", "42", "u_2"]
    assert aggregate({"unique": "properties.user"}, [(k, at(0), "e") for k in keys]) == 3


def test_accumulators_refuse_a_value_of_the_wrong_kind() -> None:
    with pytest.raises(TypeError, match="expected a Decimal measure value, got None"):
        aggregate({"sum": "properties.amount"}, [(None, at(0), "e")])
    with pytest.raises(TypeError, match="expected a canonical key, got Decimal"):
        aggregate({"unique": "properties.user"}, [(Decimal(1), at(0), "e")])


def test_values_read_then_aggregated_end_to_end() -> None:
    measure = MEASURE.validate_python({"sum": "properties.amount"})
    read = measure.compile_value()
    accumulator = measure.accumulator()
    for index, raw in enumerate([19.99, "0.01", 5, Decimal("75.00")]):
        accumulator.add(read(event(raw)), at(index), f"evt_{index}")
    assert accumulator.result() == Decimal("100.00")


def test_rule_file_measure_errors_point_at_their_line() -> None:
    text = """\
plan: p
version: 1
currency: usd
outcomes:
  pipeline:
    event: deal.closed
    measure: {avg: properties.amount}
  seats:
    event: seats.changed
    measure:
      max: seats
charges:
  - {outcome: pipeline, model: per_unit, unit_price: "1"}
"""
    with pytest.raises(RuleFileError) as caught:
        load_rules(text, "deals.yaml")
    assert [(error.line, error.message) for error in caught.value.errors] == [
        (7, f"unknown measure 'avg'; {EXPECTED}"),
        (
            11,
            "'seats' is not an event path; expected one of id, type, customer, timestamp, "
            "or a dotted path under properties or cost such as properties.conversation_id",
        ),
    ]
