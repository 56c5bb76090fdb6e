"""API shapes of events, ingestion results and voids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EVENT_EXAMPLE: dict[str, Any] = {
    "id": "evt_101",
    "type": "deal.closed",
    "customer": "acme",
    "customer_id": "cus_01m8y51h6wnk2mcpywvn5sm0n5",
    "timestamp": "2026-11-28T14:03:00Z",
    "received_at": "2026-11-28T14:03:01Z",
    "status": "counted",
    "properties": {"amount": 1250.5, "deal_id": "d-7"},
    "cost": None,
    "plan_version_id": "plv_01m8y51h5jrcm33p1nt0vdzh3a",
    "void": None,
}
OUTCOME_EXAMPLE: dict[str, Any] = {
    "outcome": "pipeline_value",
    "state": "counted",
    "period_start": "2026-11-01T00:00:00Z",
    "period_end": "2026-12-01T00:00:00Z",
    "dedupe_key": "evt_101",
    "match_key": None,
    "value": "1250.5",
    "problem": None,
    "settles_at": "2026-11-28T14:03:00Z",
    "plan_version_id": "plv_01m8y51h5jrcm33p1nt0vdzh3a",
}


class RejectedItem(BaseModel):
    """An item of the request that was not stored, by its position in the request."""

    index: int = Field(description="Position of the item in the request (0 for a single event).")
    id: str | None = Field(description="The item's id, when it had a readable one.")
    status: int = Field(description="409: id already used with other content; 422: invalid.")
    detail: str = Field(description="The field at fault and what was expected.")


class StoredItem(BaseModel):
    index: int
    id: str
    status: str = Field(description="counted, duplicate, reversal, reversed, unmatched, ...")


class IngestResponse(BaseModel):
    """What became of a request: stored, already stored (duplicates), rejected."""

    accepted: int = Field(description="Events stored by this request.")
    duplicates: int = Field(description="Events already stored with the same content.")
    rejected: list[RejectedItem]
    events: list[StoredItem] = Field(description="The events stored by this request.")

    model_config = {
        "json_schema_extra": {
            "example": {
                "accepted": 2,
                "duplicates": 1,
                "rejected": [
                    {
                        "index": 3,
                        "id": "evt_104",
                        "status": 422,
                        "detail": "timestamp: expected an ISO 8601 date-time such as "
                        "2026-11-28T14:03:00Z, got '2026-11-31'",
                    }
                ],
                "events": [
                    {"index": 0, "id": "evt_101", "status": "counted"},
                    {"index": 1, "id": "evt_102", "status": "unmatched"},
                ],
            }
        }
    }


class VoidIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "test traffic sent by mistake"}]}
    )

    reason: str = Field(min_length=1, max_length=2000)


class VoidOut(BaseModel):
    reason: str
    voided_at: datetime


class OutcomeOut(BaseModel):
    """One candidate outcome of an event and what became of it."""

    model_config = ConfigDict(json_schema_extra={"examples": [OUTCOME_EXAMPLE]})

    outcome: str
    state: str = Field(description="counted | duplicate | reversed | voided | problem")
    period_start: datetime
    period_end: datetime
    dedupe_key: str
    match_key: str | None
    value: str | None = Field(
        description="The measured value, a decimal string (`sum`, `max`, `latest`) or the "
        "key's text (`unique`); null for `count`.",
        examples=["1250.5"],
    )
    problem: str | None
    settles_at: datetime = Field(description="Billable from this time unless reversed.")
    plan_version_id: str


class EventOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EVENT_EXAMPLE]})

    id: str
    type: str
    customer: str = Field(description="The vendor's id of the customer, as sent.")
    customer_id: str
    timestamp: datetime
    received_at: datetime
    status: str = Field(
        description="counted | duplicate | reversal | reversed | unmatched | problem | voided"
    )
    properties: dict[str, Any]
    cost: dict[str, Any] | None
    plan_version_id: str | None
    void: VoidOut | None = None


class EventDetail(EventOut):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**EVENT_EXAMPLE, "outcomes": [OUTCOME_EXAMPLE]}]}
    )

    outcomes: list[OutcomeOut]
