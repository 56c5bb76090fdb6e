"""The rule-file JSON Schema: generated from the models, usable by editors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

from pricing_rules.schema import rule_file_schema
from pricing_rules.yaml_source import read_yaml

EXAMPLES = sorted((Path(__file__).parents[2] / "pricing_rules" / "examples").glob("*.yaml"))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_schema_declares_draft_id_title_and_description() -> None:
    schema = rule_file_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:outcome-metering:schema:rule-file"
    assert schema["title"] == "Pricing rule file"
    assert schema["description"].startswith("One immutable version of a plan's")


def test_top_level_keys_are_the_contract_and_nothing_else() -> None:
    schema = rule_file_schema()
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert list(schema["properties"]) == [
        "plan",
        "version",
        "currency",
        "billing",
        "outcomes",
        "charges",
        "minimum",
        "maximum",
        "costs",
        "exclusive",
    ]
    assert schema["required"] == ["plan", "version", "currency", "charges"]


def test_every_reference_resolves_to_a_definition() -> None:
    schema = rule_file_schema()
    refs = set(_refs(schema))
    assert refs
    for ref in refs:
        assert ref.startswith("#/$defs/")
        assert ref.removeprefix("#/$defs/") in schema["$defs"]


def test_duration_is_text_with_a_pattern_and_defaults_in_rule_file_form() -> None:
    close_after = rule_file_schema()["$defs"]["Billing"]["properties"]["close_after"]
    assert close_after["default"] == "3d"
    assert close_after["anyOf"][0]["type"] == "string"
    assert "pattern" in close_after["anyOf"][0]


def test_tier_lists_its_keys_for_completion() -> None:
    tier = rule_file_schema()["$defs"]["Tier"]
    assert list(tier["properties"]) == ["up_to", "unit_price", "flat_price"]
    assert tier["additionalProperties"] is False


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(rule_file_schema())


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_files_validate_against_the_schema(example: Path) -> None:
    validator = Draft202012Validator(rule_file_schema())
    data = read_yaml(example.read_text()).data
    assert [error.message for error in validator.iter_errors(data)] == []


def test_schema_rejects_a_misspelt_key() -> None:
    validator = Draft202012Validator(rule_file_schema())
    data = read_yaml(EXAMPLES[0].read_text()).data
    data["plann"] = data.pop("plan")
    messages = [error.message for error in validator.iter_errors(data)]
    assert "'plan' is a required property" in messages


def test_there_are_examples_to_check() -> None:
    assert len(EXAMPLES) >= 3


def test_issue_16_keys_complete_and_check_in_an_editor() -> None:
    """`exclusive`, `confirmed_by`, `rejected_by` and `evidence` are in the schema: the
    example with all of them passes, a misspelt key or an `otherwise` it does not take fails."""
    schema = rule_file_schema()
    defs = schema["$defs"]
    assert list(defs["Exclusive"]["properties"]) == ["key", "order"]
    assert list(defs["Settle"]["properties"]) == [
        "after",
        "reversed_by",
        "confirmed_by",
        "rejected_by",
    ]
    assert defs["ConfirmedBy"]["properties"]["otherwise"]["enum"] == ["drop", "count"]
    assert "evidence" in defs["OutcomeSpec"]["properties"]
    validator = Draft202012Validator(schema)
    example = Path(__file__).parents[2] / "pricing_rules" / "examples" / "support-outcomes.yaml"
    good = read_yaml(example.read_text(), "x").data
    assert list(validator.iter_errors(good)) == []
    misspelt = {**good, "exclusive": {**good["exclusive"], "oder": ["resolution"]}}
    found = best_match(validator.iter_errors(misspelt))
    assert found is not None
    assert found.message == "Additional properties are not allowed ('oder' was unexpected)"
    resolution = good["outcomes"]["resolution"]
    settle = {
        **resolution["settle"],
        "confirmed_by": {**resolution["settle"]["confirmed_by"], "otherwise": "maybe"},
    }
    maybe = {
        **good,
        "outcomes": {**good["outcomes"], "resolution": {**resolution, "settle": settle}},
    }
    found = best_match(validator.iter_errors(maybe))
    assert found is not None
    assert found.message == "'maybe' is not one of ['drop', 'count']"
