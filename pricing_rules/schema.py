"""The JSON Schema of rule files, generated from the models so it cannot drift from them.

Editors (through yaml-language-server's `# yaml-language-server: $schema=...` comment) use
it to complete keys and flag mistakes before the loader sees the file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from pydantic.json_schema import GenerateJsonSchema

from pricing_rules.durations import format_duration
from pricing_rules.overrides import Override
from pricing_rules.rules import RuleFile

SCHEMA_ID: Final = "urn:outcome-metering:schema:rule-file"
OVERRIDE_SCHEMA_ID: Final = "urn:outcome-metering:schema:override"
DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"


class _RuleFileJsonSchema(GenerateJsonSchema):
    """Writes duration defaults in the rule-file form (`3d`), not ISO 8601 (`P3D`)."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


def rule_file_schema() -> dict[str, Any]:
    """Draft 2020-12 JSON Schema of a rule file, as produced by the `RuleFile` model."""
    body = RuleFile.model_json_schema(schema_generator=_RuleFileJsonSchema)
    body.pop("title", None)
    body.pop("description", None)
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "Pricing rule file",
        "description": (
            "One immutable version of a plan's outcome pricing: which events are billable "
            "outcomes, how they settle, and how they are charged."
        ),
        **body,
    }


def override_schema() -> dict[str, Any]:
    """Draft 2020-12 JSON Schema of a customer's override (its keys; the values are checked
    against the plan's charges when the override is applied)."""
    body = Override.model_json_schema(schema_generator=_RuleFileJsonSchema)
    body.pop("title", None)
    body.pop("description", None)
    return {
        "$schema": DRAFT,
        "$id": OVERRIDE_SCHEMA_ID,
        "title": "Customer price override",
        "description": (
            "A customer's own prices over its plan version: named charges' price keys, the "
            "minimum and maximum, and the commitment's units, prices and true-up."
        ),
        **body,
    }
