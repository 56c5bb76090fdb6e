"""API shapes of per-customer price books."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from metering.catalog.plans.schemas import PARSED_RULE_FILE_EXAMPLE

OVERRIDE_EXAMPLE = """\
charges:
  Resolved conversations:
    free_units: 100
    tiers:
      - {up_to: 5000, unit_price: "0.89"}
      - {up_to: null, unit_price: "0.69"}
minimum: "300.00"
"""


def override_request_body() -> dict[str, Any]:
    """`openapi_extra` of an override: the document as YAML, or the same as JSON."""
    document = {
        "type": "object",
        "properties": {
            "charges": {"type": "object", "additionalProperties": {"type": "object"}},
            "minimum": {"type": ["string", "null"]},
            "maximum": {},
            "commitment": {
                "type": ["object", "null"],
                "description": "Keys of the plan's commitment; the term stays the plan's.",
                "properties": {
                    "units": {"type": "object", "additionalProperties": {}},
                    "price": {"type": "string"},
                    "overage": {"type": "object"},
                    "true_up": {"enum": ["at_term_end", "none"]},
                },
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}, "example": OVERRIDE_EXAMPLE},
                "application/json": {
                    "schema": document,
                    "example": {"charges": {"Resolved conversations": {"free_units": 100}}},
                },
            },
        }
    }


class OverrideOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "ovr_01m8y51h4x1mnd2xf51bcj0355",
                    "customer_id": "cus_01m8y51h4x1mnd2xf51bcj0342",
                    "version": 1,
                    "document": OVERRIDE_EXAMPLE,
                    "effective": "next_period",
                    "effective_from": "2026-12-01T00:00:00Z",
                    "plan": "support-agent",
                    "plan_version": 1,
                    "plan_version_id": "plv_01m8y51h4x1mnd2xf51bcj0356",
                    "base": PARSED_RULE_FILE_EXAMPLE,
                    "merged": PARSED_RULE_FILE_EXAMPLE,
                    "created_at": "2026-11-20T10:00:00Z",
                }
            ]
        }
    )

    id: str
    customer_id: str
    version: int = Field(description="Numbered per customer from 1; never changed.")
    document: str = Field(description="The override as sent (YAML or JSON).")
    effective: str = Field(
        description="`next_period` or `immediately`, as asked; `at` for an `effective_from`."
    )
    effective_from: datetime = Field(description="When the customer's prices change.")
    plan: str = Field(description="The plan's slug.")
    plan_version: int = Field(description="The plan version the override applies to.")
    plan_version_id: str = Field(description="The version the override made (base + override).")
    base: dict[str, Any] = Field(description="The plan version's rules, as parsed.")
    merged: dict[str, Any] = Field(description="The rules the customer is billed by from then.")
    created_at: datetime
