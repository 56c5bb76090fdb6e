"""API shapes of plans and their versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

RULE_FILE_EXAMPLE = """\
plan: support-agent
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h}
outcomes:
  resolved_conversation:
    event: conversation.resolved
    where:
      properties.handled_by: {eq: ai}
    unique_by: properties.conversation_id
    settle:
      after: 72h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
charges:
  - outcome: resolved_conversation
    model: graduated
    tiers:
      - {up_to: 1000, unit_price: "0.99"}
      - {up_to: null, unit_price: "0.79"}
"""


PARSED_RULE_FILE_EXAMPLE: dict[str, Any] = {
    "billing": {"close_after": "3d", "interval": "month", "timezone": "UTC"},
    "charges": [
        {
            "free_units": "0",
            "model": "graduated",
            "name": None,
            "outcome": "resolved_conversation",
            "tiers": [
                {"flat_price": None, "unit_price": "0.99", "up_to": "1000"},
                {"flat_price": None, "unit_price": "0.79", "up_to": None},
            ],
        }
    ],
    "costs": None,
    "currency": "usd",
    "maximum": None,
    "minimum": None,
    "outcomes": {
        "resolved_conversation": {
            "event": "conversation.resolved",
            "measure": "count",
            "portal": {"show": []},
            "settle": {
                "after": "3d",
                "reversed_by": {
                    "event": "conversation.reopened",
                    "match": "properties.conversation_id",
                    "where": None,
                },
            },
            "unique_by": "properties.conversation_id",
            "where": {"properties.handled_by": {"eq": "ai"}},
        }
    },
    "plan": "support-agent",
    "version": 1,
}
"""`RULE_FILE_EXAMPLE` as the API gives it back, parsed (durations normalised)."""
PLAN_VERSION_EXAMPLE: dict[str, Any] = {
    "id": "plv_01m8y51h5jrcm33p1nt0vdzh3a",
    "plan_id": "pln_01m8y51h4x1mnd2xf51bcj0341",
    "version": 1,
    "created_at": "2026-11-02T09:14:00Z",
}


def rule_file_request_body() -> dict[str, Any]:
    """`openapi_extra` for the plan upload: YAML as is, or JSON `{"yaml": ...}`."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {
                    "schema": {"type": "string"},
                    "example": RULE_FILE_EXAMPLE,
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"yaml": {"type": "string"}},
                        "required": ["yaml"],
                    },
                    "example": {"yaml": RULE_FILE_EXAMPLE},
                },
            },
        }
    }


class RuleFileUpload(BaseModel):
    """The JSON form of an upload; `application/yaml` bodies carry the YAML directly."""

    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(description="The rule file's YAML text.")


class PlanOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "pln_01m8y51h4x1mnd2xf51bcj0341",
                    "slug": "support-agent",
                    "latest_version": 1,
                    "created_at": "2026-11-02T09:14:00Z",
                }
            ]
        }
    )

    id: str
    slug: str
    latest_version: int | None
    created_at: datetime


class PlanVersionSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [PLAN_VERSION_EXAMPLE]})

    id: str
    plan_id: str
    version: int
    created_at: datetime


class PlanVersionOut(PlanVersionSummary):
    """One immutable version: the YAML as uploaded and the rules as parsed from it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **PLAN_VERSION_EXAMPLE,
                    "plan": "support-agent",
                    "yaml": RULE_FILE_EXAMPLE,
                    "rules": PARSED_RULE_FILE_EXAMPLE,
                }
            ]
        }
    )

    plan: str = Field(description="The plan's slug.")
    yaml: str
    rules: dict[str, Any] = Field(description="The parsed rule file.")


class RuleErrorOut(BaseModel):
    file: str
    line: int
    column: int
    message: str
