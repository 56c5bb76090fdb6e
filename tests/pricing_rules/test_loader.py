"""The loader: YAML to exact data, and every error at the line and column to fix."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from pricing_rules.charges.tiered import GraduatedCharge
from pricing_rules.durations import Duration
from pricing_rules.errors import RuleFileError
from pricing_rules.loader import load_document, load_rules, load_rules_file, read_text
from pricing_rules.yaml_source import read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tier(_Strict):
    up_to: int | None = None
    unit_price: Decimal


class Graduated(_Strict):
    model: Literal["graduated"]
    tiers: list[Tier]


class Flat(_Strict):
    model: Literal["flat"]
    price: Decimal


class Sample(_Strict):
    plan: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    version: int = Field(ge=1)
    after: Duration = timedelta(0)
    interval: Literal["day", "month"] = "month"
    charges: list[Annotated[Graduated | Flat, Field(discriminator="model")]] = []
    names: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], Any] = {}


def errors_of(text: str) -> list[str]:
    with pytest.raises(RuleFileError) as raised:
        load_document(text, Sample, "plan.yaml")
    return [str(error) for error in raised.value.errors]


def test_valid_document_loads() -> None:
    sample = load_document("plan: basic\nversion: 2\nafter: 1d12h\n", Sample)
    assert (sample.plan, sample.version, sample.after.total_seconds()) == ("basic", 2, 129600)


def test_numbers_are_exact_ints_and_decimals_never_floats() -> None:
    data = read_yaml(
        "a: 0.99\nb: 1_000\nc: 0x1F\nd: 1e3\ne: '0.1'\nf: -0.30\ng: true\nh: 012\ni: null\n"
    ).data
    assert data == {
        "a": Decimal("0.99"),
        "b": 1000,
        "c": 31,
        "d": Decimal("1E+3"),
        "e": "0.1",
        "f": Decimal("-0.30"),
        "g": True,
        "h": 12,
        "i": None,
    }
    assert [type(data[key]) for key in "abcefg"] == [Decimal, int, int, str, Decimal, bool]
    assert str(data["f"]) == "-0.30"


def test_unquoted_price_is_exactly_the_written_decimal() -> None:
    sample = load_document(
        "plan: p\nversion: 1\ncharges:\n  - {model: flat, price: 0.99}\n", Sample
    )
    assert sample.charges[0] == Flat(model="flat", price=Decimal("0.99"))


def test_yaml_dates_and_yes_stay_text() -> None:
    assert read_yaml("a: 2026-01-31\nb: yes\n").data == {"a": "2026-01-31", "b": "yes"}


def test_aliases_and_merge_keys_are_expanded() -> None:
    data = read_yaml("base: &base {x: 1, y: 2}\ncopy: *base\nmore:\n  <<: *base\n  y: 3\n").data
    assert data["copy"] == {"x": 1, "y": 2}
    assert data["more"] == {"x": 1, "y": 3}


def test_positions_are_recorded_for_keys_and_values() -> None:
    document = read_yaml("plan: p\ncharges:\n  - model: flat\n    price: 1\n")
    assert document.values[("charges", 0, "price")] == (4, 12)
    assert document.keys[("charges", 0, "price")] == (4, 5)
    assert document.values[("charges", 0)] == (3, 5)


def test_every_error_is_reported_in_file_order() -> None:
    text = (
        "plan: Basic\n"  # 1
        "version: three\n"  # 2
        "after: 72x\n"  # 3
        "interval: yearly\n"  # 4
        "charges:\n"  # 5
        "  - model: graduatd\n"  # 6
        "  - model: graduated\n"  # 7
        "    tiers:\n"  # 8
        "      - {up_to: 10, unit_prise: 0.5}\n"  # 9
        "      - {up_to: lots, unit_price: 1}\n"  # 10
        "  - {price: 1}\n"  # 11
        "names: {Bad: 1}\n"  # 12
        "extra: 1\n"  # 13
    )
    assert errors_of(text) == [
        "plan.yaml:1:7: expected lowercase letters, digits and dashes, such as support-agent, "
        "got 'Basic'",
        "plan.yaml:2:10: expected a whole number, got 'three'",
        "plan.yaml:3:8: '72x' is not a duration; expected a number and a unit (s, m, h, d, w) "
        "such as 72h or 30m",
        "plan.yaml:4:11: expected one of day, month, got 'yearly'",
        "plan.yaml:6:12: unknown charge model 'graduatd'; expected one of graduated, flat",
        "plan.yaml:9:9: missing required key 'unit_price'",
        "plan.yaml:9:21: unknown key 'unit_prise' in tier; expected one of up_to, unit_price",
        "plan.yaml:10:17: expected a whole number, got 'lots'",
        "plan.yaml:11:5: missing required key 'model'; expected one of graduated, flat",
        "plan.yaml:12:9: expected lowercase letters, digits and underscores starting with a "
        "letter, such as resolved_conversation, got 'Bad'",
        "plan.yaml:13:1: unknown key 'extra' at the top level; expected one of plan, version, "
        "after, interval, charges, names",
    ]


def test_missing_key_points_at_the_mapping_that_lacks_it() -> None:
    assert errors_of("# a comment\n\nplan: p\n") == [
        "plan.yaml:3:1: missing required key 'version'"
    ]


def test_bound_is_said_in_plain_words() -> None:
    assert errors_of("plan: p\nversion: 0\n") == [
        "plan.yaml:2:10: expected a number at least 1, got 0"
    ]


def test_duplicate_key_is_an_error_not_last_wins() -> None:
    assert errors_of("plan: a\nversion: 1\nplan: b\n") == [
        "plan.yaml:3:1: duplicate key 'plan'; it is already set on line 1"
    ]


def test_duplicate_key_in_nested_mapping_is_reported_with_other_errors() -> None:
    text = "plan: a\nversion: 0\nnames:\n  one: 1\n  one: 2\n"
    assert errors_of(text) == [
        "plan.yaml:2:10: expected a number at least 1, got 0",
        "plan.yaml:5:3: duplicate key 'one'; it is already set on line 4",
    ]


def test_tab_indentation_is_located() -> None:
    assert errors_of("plan: a\nnames:\n\tx: 1\n") == [
        "plan.yaml:3:1: a tab character is not allowed here; indent with spaces"
    ]


def test_bad_indentation_is_located() -> None:
    assert errors_of("plan: a\nnames:\n  x: 1\n   y: 2\n") == [
        "plan.yaml:4:5: unexpected ':' here; check the indentation of this line, "
        "or quote a value that contains ': '"
    ]


def test_unclosed_quote_points_at_the_opening_quote() -> None:
    assert errors_of("plan: a\nversion: 1\nnames: {x: 'open}\n") == [
        "plan.yaml:3:12: this quoted text is never closed; add the closing quote"
    ]


def test_unclosed_flow_list_names_the_yaml_problem() -> None:
    assert errors_of("plan: a\ncharges: [1, 2\nversion: 1\n") == [
        "plan.yaml:3:8: invalid YAML: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence started on line 2)"
    ]


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("- plan: a\n", "got a list"),
        ("just text\n", "got a single value"),
        ("", "the document is empty"),
        ("# nothing but a comment\n", "the document is empty"),
    ],
)
def test_document_that_is_not_a_mapping_is_an_error_at_1_1(text: str, got: str) -> None:
    assert errors_of(text) == [
        f"plan.yaml:1:1: expected a mapping of keys such as plan, version, after; {got}"
    ]


def test_two_documents_are_refused() -> None:
    assert errors_of("plan: a\n---\nplan: b\n") == [
        "plan.yaml:2:1: a rule file holds one YAML document; remove the second '---'"
    ]


def test_custom_tags_are_refused() -> None:
    assert errors_of("plan: !!python/name:os.system a\nversion: 1\n") == [
        "plan.yaml:1:7: unknown tag 'tag:yaml.org,2002:python/name:os.system'; "
        "rule files use plain YAML values"
    ]


def test_unreadable_file_is_a_rule_file_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    with pytest.raises(RuleFileError) as raised:
        read_text(missing)
    assert [str(error) for error in raised.value.errors] == [
        f"{missing}:1:1: cannot read file: No such file or directory"
    ]


def test_file_that_is_not_utf8_points_at_the_bad_byte(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("plan: a\nname: caf\xe9\n".encode("latin-1"))
    with pytest.raises(RuleFileError) as raised:
        read_text(latin)
    assert [str(error) for error in raised.value.errors] == [
        f"{latin}:2:10: the file is not UTF-8 text; save it as UTF-8"
    ]


# --- the real rule file --------------------------------------------------------------------


def rule_errors(text: str) -> list[str]:
    with pytest.raises(RuleFileError) as raised:
        load_rules(text, "plan.yaml")
    return [str(error) for error in raised.value.errors]


HEAD = "plan: support-agent\nversion: 3\ncurrency: usd\n"
OUTCOME = "outcomes:\n  resolved:\n    event: conversation.resolved\n"


def test_rule_file_loads_with_exact_prices() -> None:
    rules = load_rules(
        HEAD
        + OUTCOME
        + "charges:\n"
        + "  - outcome: resolved\n"
        + "    model: graduated\n"
        + "    tiers:\n"
        + "      - {up_to: 1000, unit_price: 0.99}\n"
        + "      - {up_to: null, unit_price: 0.79, flat_price: 0}\n"
        + "minimum: 500.00\n"
    )
    (charge,) = rules.charges
    assert isinstance(charge, GraduatedCharge)
    assert [tier.unit_price for tier in charge.tiers] == [Decimal("0.99"), Decimal("0.79")]
    assert str(rules.minimum) == "500.00"
    assert rules.billing.close_after.total_seconds() == 72 * 3600


def test_rule_file_missing_version() -> None:
    text = "plan: support-agent\ncurrency: usd\ncharges:\n  - {model: flat, price: 1}\n"
    assert rule_errors(text) == ["plan.yaml:1:1: missing required key 'version'"]


def test_rule_file_unknown_key_in_tier_lists_the_tier_keys() -> None:
    text = (
        HEAD
        + OUTCOME  # 4-6
        + "charges:\n"  # 7
        + "  - outcome: resolved\n"  # 8
        + "    model: graduated\n"  # 9
        + "    tiers:\n"  # 10
        + "      - {up_to: 1000, unit_prise: 0.99}\n"  # 11
        + "      - {up_to: null, unit_price: 0.79}\n"  # 12
    )
    assert rule_errors(text) == [
        "plan.yaml:11:23: unknown key 'unit_prise' in tier; "
        "expected one of up_to, unit_price, flat_price"
    ]


def test_rule_file_misspelt_charge_model() -> None:
    text = HEAD + OUTCOME + "charges:\n  - outcome: resolved\n    model: graduatd\n"
    assert rule_errors(text) == [
        "plan.yaml:9:12: unknown charge model 'graduatd' (did you mean 'graduated'?); "
        "expected one of per_unit, graduated, volume, package, percentage, flat"
    ]


def test_rule_file_wrong_types_negative_price_currency_and_duration_all_at_once() -> None:
    text = (
        "plan: support-agent\n"  # 1
        "version: three\n"  # 2
        "currency: usx\n"  # 3
        "billing:\n"  # 4
        "  close_after: 72x\n"  # 5
        "charges:\n"  # 6
        "  - {model: flat, price: -5}\n"  # 7
    )
    assert rule_errors(text) == [
        "plan.yaml:2:10: expected a whole number, got 'three'",
        "plan.yaml:3:11: unknown currency 'usx'; expected an ISO 4217 code such as usd, eur or jpy",
        "plan.yaml:5:16: '72x' is not a duration; expected a number and a unit "
        "(s, m, h, d, w) such as 72h or 30m",
        "plan.yaml:7:26: must not be negative, got -5",
    ]


def test_rule_file_tiers_out_of_order_and_open_tier_not_last() -> None:
    text = (
        HEAD
        + OUTCOME  # 4-6
        + "charges:\n"  # 7
        + "  - outcome: resolved\n"  # 8
        + "    model: volume\n"  # 9
        + "    tiers:\n"  # 10
        + "      - {up_to: 1000, unit_price: 0.99}\n"  # 11
        + "      - {up_to: null, unit_price: 0.79}\n"  # 12
        + "      - {up_to: 500, unit_price: 0.50}\n"  # 13
    )
    assert rule_errors(text) == [
        "plan.yaml:12:17: only the last tier may have up_to: null",
        "plan.yaml:13:17: the last tier must have up_to: null so every quantity has a price",
        "plan.yaml:13:17: tier 3 up_to 500 must be greater than the previous tier's 1000",
    ]


def test_rule_file_unique_by_that_is_not_a_path() -> None:
    text = (
        HEAD + OUTCOME + "    unique_by: conversation_id\n" + "charges: [{model: flat, price: 1}]\n"
    )
    assert rule_errors(text) == [
        "plan.yaml:7:16: 'conversation_id' is not an event path; expected one of id, type, "
        "customer, timestamp, or a dotted path under properties or cost such as "
        "properties.conversation_id"
    ]


def test_rule_file_charge_for_an_unknown_outcome_and_minimum_above_maximum() -> None:
    text = (
        HEAD
        + OUTCOME  # 4-6
        + "charges:\n"  # 7
        + "  - outcome: resolvd\n"  # 8
        + "    model: per_unit\n"  # 9
        + "    unit_price: 1\n"  # 10
        + "minimum: 100\n"  # 11
        + "maximum: 50\n"  # 12
    )
    assert rule_errors(text) == [
        "plan.yaml:8:14: charge refers to unknown outcome 'resolvd'; expected one of the "
        "outcomes of this file (resolved)",
        "plan.yaml:11:10: minimum 100 is above maximum 50",
    ]


def test_rule_file_unknown_top_level_key_and_missing_charges() -> None:
    text = HEAD + "charge:\n  - {model: flat, price: 1}\n"
    assert rule_errors(text) == [
        "plan.yaml:1:1: missing required key 'charges'",
        "plan.yaml:4:1: unknown key 'charge' at the top level; expected one of plan, version, "
        "currency, billing, outcomes, charges, minimum, maximum, costs, exclusive, commitment",
    ]


def test_rule_file_bad_outcome_name_points_at_the_key() -> None:
    text = HEAD + "outcomes:\n  Resolved:\n    event: x\ncharges: [{model: flat, price: 1}]\n"
    assert rule_errors(text) == [
        "plan.yaml:5:3: expected lowercase letters, digits and underscores starting with a "
        "letter, such as resolved_conversation, got 'Resolved'"
    ]


def test_rule_file_empty_charges() -> None:
    assert rule_errors(HEAD + "charges: []\n") == [
        "plan.yaml:4:10: expected at least 1 item(s) in charges, got 0"
    ]


def test_load_rules_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(HEAD + "charges: [{model: flat, price: 1}]\nversion: 4\n")
    with pytest.raises(RuleFileError) as raised:
        load_rules_file(path)
    assert [str(error) for error in raised.value.errors] == [
        f"{path}:5:1: duplicate key 'version'; it is already set on line 2"
    ]
    path.write_text(HEAD + "charges: [{model: flat, price: 1}]\n")
    assert load_rules_file(path).plan == "support-agent"


def test_empty_value_points_at_its_key() -> None:
    text = HEAD + "billing:\n  close_after:\noutcomes:\n  resolved:\n" + "charges: []\n"
    assert rule_errors(text) == [
        "plan.yaml:5:3: a duration is needed here; expected a number and a unit "
        "(s, m, h, d, w) such as 72h or 30m",
        "plan.yaml:7:3: expected a mapping (key: value), got null",
        "plan.yaml:8:10: expected at least 1 item(s) in charges, got 0",
    ]


def test_reference_errors_are_reported_with_field_errors() -> None:
    text = (
        HEAD
        + OUTCOME  # 4-6
        + "charges:\n"  # 7
        + "  - outcome: resolvd\n"  # 8
        + "    model: per_unit\n"  # 9
        + "    unit_price: -1\n"  # 10
        + "minimum: 100\n"  # 11
        + "maximum: 50\n"  # 12
    )
    assert rule_errors(text) == [
        "plan.yaml:8:14: charge refers to unknown outcome 'resolvd'; expected one of the "
        "outcomes of this file (resolved)",
        "plan.yaml:10:17: must not be negative, got -1",
        "plan.yaml:11:10: minimum 100 is above maximum 50",
    ]
