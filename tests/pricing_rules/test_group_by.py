"""Prices by dimension: `group_by` on a charge, one line per value, each at its own price."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from pricing_rules.engine import price_events
from pricing_rules.errors import RuleFileError
from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.periods import period_containing
from pricing_rules.schema import rule_file_schema
from pricing_rules.yaml_source import read_yaml

HEAD = """\
plan: calls
version: 1
currency: usd
outcomes:
  call:
    event: model.called
    unique_by: properties.call_id
charges:
"""

PER_MODEL = (
    HEAD
    + """\
  - name: Model calls
    outcome: call
    model: per_unit
    group_by: properties.model
    prices:
      gpt-4o: "0.05"
      claude: "0.04"
      default: "0.01"
  - {name: Platform fee, model: flat, price: "1.00"}
"""
)

TIERED = """\
  - name: Calls
    outcome: call
    model: graduated
    group_by: properties.model
    {across}
    prices:
      gpt-4o:
        - {{up_to: 2, unit_price: "1.00"}}
        - {{up_to: null, unit_price: "0.50"}}
      default:
        - {{up_to: 2, unit_price: "0.40"}}
        - {{up_to: null, unit_price: "0.20"}}
"""

NOV = datetime(2026, 11, 10, tzinfo=UTC)


def _calls(*models: str | None) -> list[Event]:
    events = []
    for number, model in enumerate(models):
        properties: dict[str, Any] = {"call_id": f"c-{number}"}
        if model is not None:
            properties["model"] = model
        events.append(Event(f"e-{number}", "model.called", "acme", NOV, properties))
    return events


def _lines(text: str, events: list[Event]) -> list[tuple[str, str, str]]:
    rules = load_rules(text)
    period = period_containing(NOV, "month", "UTC")
    (customer,) = price_events(rules, events, period).customers
    return [(line.charge, str(line.quantity), str(line.amount)) for line in customer.invoice.lines]


def test_one_line_per_model_seen_each_at_its_price_and_unlisted_at_the_default() -> None:
    # gpt-4o 3 x 0.05 = 0.15; claude 2 x 0.04 = 0.08; mistral (unlisted) 1 x 0.01; one call
    # without a model: the default too, on a line of its own.
    events = _calls("gpt-4o", "claude", "gpt-4o", "mistral", "claude", "gpt-4o", None)
    assert _lines(PER_MODEL, events) == [
        ("Model calls (claude)", "2", "0.08"),
        ("Model calls (gpt-4o)", "3", "0.15"),
        ("Model calls (mistral)", "1", "0.01"),
        ("Model calls ((none))", "1", "0.01"),
        ("Platform fee", "1", "1.00"),
    ]


def test_a_value_never_seen_has_no_line() -> None:
    assert _lines(PER_MODEL, _calls("claude")) == [
        ("Model calls (claude)", "1", "0.04"),
        ("Platform fee", "1", "1.00"),
    ]


def test_tiers_count_per_value_by_default() -> None:
    # gpt-4o: 3 calls = 2 x 1.00 + 1 x 0.50 = 2.50; llama (default): 2 calls = 2 x 0.40.
    text = HEAD + TIERED.format(across="")
    events = _calls("gpt-4o", "gpt-4o", "gpt-4o", "llama", "llama")
    assert _lines(text, events) == [
        ("Calls (gpt-4o)", "3", "2.50"),
        ("Calls (llama)", "2", "0.80"),
    ]


def test_tiers_across_all_count_the_volume_of_every_value() -> None:
    # 5 calls in all: units 1-2 in tier 1, 3-5 in tier 2. gpt-4o's table prices 5 units at
    # 2 x 1.00 + 3 x 0.50 = 3.50, of which its 3 calls pay 3/5 = 2.10; the default table
    # prices them at 2 x 0.40 + 3 x 0.20 = 1.40, of which llama's 2 calls pay 2/5 = 0.56.
    text = HEAD + TIERED.format(across="tiers_across: all")
    events = _calls("gpt-4o", "llama", "gpt-4o", "llama", "gpt-4o")
    assert _lines(text, events) == [
        ("Calls (gpt-4o)", "3", "2.10"),
        ("Calls (llama)", "2", "0.56"),
    ]


def test_volume_across_all_prices_each_value_at_the_tier_of_the_total() -> None:
    # 4 calls in all reach tier 2 of both tables: gpt-4o 1 x 0.80, claude 3 x 0.30.
    text = (
        HEAD
        + """\
  - outcome: call
    model: volume
    group_by: properties.model
    tiers_across: all
    prices:
      gpt-4o: [{up_to: 3, unit_price: "1.00"}, {up_to: null, unit_price: "0.80"}]
      default: [{up_to: 3, unit_price: "0.40"}, {up_to: null, unit_price: "0.30"}]
"""
    )
    events = _calls("claude", "gpt-4o", "claude", "claude")
    assert _lines(text, events) == [
        ("call (volume) (claude)", "3", "0.90"),
        ("call (volume) (gpt-4o)", "1", "0.80"),
    ]


def test_free_units_are_given_per_value() -> None:
    text = (
        HEAD
        + """\
  - outcome: call
    model: package
    package_size: 10
    free_units: 1
    group_by: properties.model
    prices: {gpt-4o: "5.00", default: "2.00"}
"""
    )
    # gpt-4o: 12 - 1 free = 11 units, 2 packs x 5.00; claude: 1 - 1 free = nothing.
    events = _calls(*["gpt-4o"] * 12, "claude")
    assert _lines(text, events) == [
        ("call (package) (claude)", "1", "0.00"),
        ("call (package) (gpt-4o)", "12", "10.00"),
    ]


def test_a_tiered_charge_takes_a_bare_price_as_one_open_tier() -> None:
    text = (
        HEAD
        + """\
  - outcome: call
    model: graduated
    group_by: properties.model
    prices:
      gpt-4o: "0.25"
      default: [{up_to: 1, unit_price: "1.00"}, {up_to: null, unit_price: "0.10"}]
"""
    )
    events = _calls("gpt-4o", "gpt-4o", "x", "x")
    assert _lines(text, events) == [
        ("call (graduated) (gpt-4o)", "2", "0.50"),
        ("call (graduated) (x)", "2", "1.10"),
    ]


def test_numbers_and_booleans_are_grouped_by_their_text() -> None:
    text = HEAD + "  - {outcome: call, model: per_unit, group_by: properties.model, "
    text += 'prices: {"4": "1.00", "true": "2.00", default: "0"}}\n'
    events = _calls("4", None)
    events += [Event("n", "model.called", "acme", NOV, {"call_id": "n", "model": 4.0})]
    events += [Event("b", "model.called", "acme", NOV, {"call_id": "b", "model": True})]
    assert _lines(text, events) == [
        ("call (per_unit) (4)", "2", "2.00"),
        ("call (per_unit) (true)", "1", "2.00"),
        ("call (per_unit) ((none))", "1", "0.00"),
    ]


def _errors(charges: str) -> list[str]:
    with pytest.raises(RuleFileError) as caught:
        load_rules(HEAD + charges, "calls.yaml")
    return [str(error) for error in caught.value.errors]


def test_group_by_without_prices_is_a_located_error() -> None:
    assert _errors("  - outcome: call\n    model: per_unit\n    group_by: properties.model\n") == [
        "calls.yaml:11:15: group_by needs prices: a price for each value, "
        "and a default for the others"
    ]


def test_prices_without_a_default_or_without_group_by_are_located_errors() -> None:
    assert _errors(
        "  - outcome: call\n    model: per_unit\n    group_by: properties.model\n"
        '    prices: {gpt-4o: "1"}\n'
        '  - {outcome: call, model: per_unit, unit_price: "1", prices: {default: "1"}}\n'
    ) == [
        "calls.yaml:12:13: prices needs a default: the price of values it does not list",
        "calls.yaml:13:63: prices needs group_by: the event path whose value picks the price",
    ]


def test_a_bad_price_entry_is_reported_inside_prices() -> None:
    assert _errors(
        "  - outcome: call\n    model: graduated\n    group_by: properties.model\n"
        "    prices:\n"
        '      gpt-4o: "cheap"\n'
        '      claude: [{up_to: 5, unit_price: "1"}, {up_to: 3, unit_price: "1"}]\n'
        '      default: "-1"\n'
    ) == ["calls.yaml:15:16: must not be negative, got -1"]
    assert _errors(
        "  - outcome: call\n    model: graduated\n    group_by: properties.model\n"
        "    prices:\n"
        '      gpt-4o: "cheap"\n'
        '      claude: [{up_to: 5, unit_price: "1"}, {up_to: 3, unit_price: "1"}]\n'
        '      default: "1"\n'
    ) == [
        "calls.yaml:13:15: 'cheap' is not a number; expected a decimal such as \"0.99\"",
        "calls.yaml:14:53: the last tier must have up_to: null so every quantity has a price",
        "calls.yaml:14:53: tier 2 up_to 3 must be greater than the previous tier's 5",
    ]


def test_the_price_key_itself_and_two_paths_for_one_outcome_are_refused() -> None:
    assert _errors(
        "  - outcome: call\n    model: per_unit\n    unit_price: '1'\n"
        "    group_by: properties.model\n    prices: {default: '1'}\n"
        "  - outcome: call\n    model: per_unit\n"
        "    group_by: properties.region\n    prices: {default: '1'}\n"
    ) == [
        "calls.yaml:11:17: with group_by the price is in prices; move unit_price to prices.default",
        "calls.yaml:16:15: outcome 'call' is already grouped by properties.model in an "
        "earlier charge; the charges of one outcome group it by the same path",
    ]


def test_the_json_schema_knows_group_by_prices_and_tiers_across() -> None:
    validator = Draft202012Validator(rule_file_schema())
    good = read_yaml(HEAD + TIERED.format(across="tiers_across: all"), "x").data
    assert list(validator.iter_errors(good)) == []
    good = read_yaml(PER_MODEL, "x").data
    assert list(validator.iter_errors(good)) == []
    no_default = read_yaml(PER_MODEL.replace('      default: "0.01"\n', ""), "x").data
    assert list(validator.iter_errors(no_default))
    no_price = read_yaml(HEAD + "  - {outcome: call, model: per_unit}\n", "x").data
    assert list(validator.iter_errors(no_price))
    bad_entry = read_yaml(PER_MODEL.replace('"0.05"', "[1]"), "x").data
    assert list(validator.iter_errors(bad_entry))


def test_group_lines_price_the_same_from_the_charge_alone() -> None:
    """A value's line is what the charge would bill were that value its only usage."""
    rules = load_rules(PER_MODEL)
    (charge, _) = rules.charges
    alone = charge.for_value("gpt-4o")
    assert alone.unit_price == Decimal("0.05")  # type: ignore[attr-defined]
    assert charge.for_value("unlisted").unit_price == Decimal("0.01")  # type: ignore[attr-defined]


def test_a_second_dimension_is_an_outcome_per_value_each_priced_by_the_first() -> None:
    """The README's two-dimension form: region by outcome (a `where`), model by `group_by`."""
    text = """\
plan: calls
version: 1
currency: usd
outcomes:
  call_eu: {event: model.called, where: {properties.region: eu}}
  call: {event: model.called, where: {not: {properties.region: eu}}}
charges:
  - {name: Calls EU, outcome: call_eu, model: per_unit, group_by: properties.model,
     prices: {gpt-4o: "0.06", default: "0.02"}}
  - {name: Calls, outcome: call, model: per_unit, group_by: properties.model,
     prices: {gpt-4o: "0.05", default: "0.01"}}
"""
    events = [
        Event(f"e-{n}", "model.called", "acme", NOV, {"model": model, "region": region})
        for n, (model, region) in enumerate(
            [("gpt-4o", "eu"), ("gpt-4o", "eu"), ("llama", "eu"), ("gpt-4o", "us"), ("llama", "us")]
        )
    ]
    # EU: 2 x 0.06 + 1 x 0.02; elsewhere: 1 x 0.05 + 1 x 0.01. Each event is one outcome.
    assert _lines(text, events) == [
        ("Calls EU (gpt-4o)", "2", "0.12"),
        ("Calls EU (llama)", "1", "0.02"),
        ("Calls (gpt-4o)", "1", "0.05"),
        ("Calls (llama)", "1", "0.01"),
    ]
