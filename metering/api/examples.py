"""Request examples shown in the OpenAPI document (`/docs`)."""

from __future__ import annotations

from typing import Any

EVENT_EXAMPLE: dict[str, Any] = {
    "id": "evt_0001",
    "type": "conversation.resolved",
    "customer": "acme",
    "timestamp": "2026-11-02T09:15:00Z",
    "properties": {"conversation_id": "c-1", "channel": "chat", "handled_by": "ai"},
    "cost": {"amount": "0.042", "currency": "usd"},
}

BATCH_EXAMPLE: dict[str, Any] = {
    "events": [
        EVENT_EXAMPLE,
        {
            "id": "evt_0002",
            "type": "conversation.reopened",
            "customer": "acme",
            "timestamp": "2026-11-03T08:00:00Z",
            "properties": {"conversation_id": "c-1"},
        },
    ]
}

CLOUDEVENT_EXAMPLE: dict[str, Any] = {
    "specversion": "1.0",
    "id": "evt_0003",
    "type": "conversation.resolved",
    "source": "https://agent.vendor.test",
    "subject": "acme",
    "time": "2026-11-02T09:20:00Z",
    "datacontenttype": "application/json",
    "data": {"conversation_id": "c-3", "channel": "email", "handled_by": "ai"},
}

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

_ANY_JSON: dict[str, Any] = {"type": "object"}


def events_request_body() -> dict[str, Any]:
    """`openapi_extra` for an ingestion route that reads its raw body itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": _ANY_JSON,
                    "examples": {
                        "event": {"summary": "One event", "value": EVENT_EXAMPLE},
                        "batch": {"summary": "A batch (up to 1,000)", "value": BATCH_EXAMPLE},
                    },
                },
                "application/cloudevents+json": {
                    "schema": _ANY_JSON,
                    "example": CLOUDEVENT_EXAMPLE,
                },
                "application/cloudevents-batch+json": {
                    "schema": {"type": "array", "items": _ANY_JSON},
                    "example": [CLOUDEVENT_EXAMPLE],
                },
            },
        }
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
