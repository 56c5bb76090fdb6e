"""API shapes of disputes and of the vendor's answer to one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class DisputeOut(BaseModel):
    """A dispute as filed, and its resolution once the vendor answered."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "dsp_01jd3k2m8n4p6q8r0s2t4v6w8y",
                "customer_id": "cus_01jd3k2m8n4p6q8r0s2t4v6w8y",
                "outcome_id": 1234,
                "outcome": "resolved_conversation",
                "period_start": "2026-11-01T00:00:00Z",
                "dedupe_key": "c-42",
                "event_id": "evt_42",
                "reason": "The customer wrote again the next day: it was not resolved.",
                "status": "accepted",
                "resolution_note": "Agreed, credited.",
                "created_at": "2026-11-20T09:30:00Z",
                "resolved_at": "2026-11-21T14:00:00Z",
            }
        }
    )

    id: str
    customer_id: str
    outcome_id: int = Field(description="The outcome row disputed, as it was at filing.")
    outcome: str
    period_start: datetime
    dedupe_key: str = Field(description="The key the outcome was deduplicated on.")
    event_id: str = Field(description="The event that made the outcome.")
    reason: str
    status: str = Field(
        description="open, accepted (the outcome is credited), rejected, or withdrawn by the "
        "customer."
    )
    resolution_note: str | None
    created_at: datetime
    resolved_at: datetime | None


class AcceptBody(BaseModel):
    """Accepting credits the outcome; the note is shown to the customer."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"note": "Agreed: the conversation was reopened."}]},
    )

    note: Note | None = None


class RejectBody(BaseModel):
    """Rejecting keeps the outcome billed; the note tells the customer why."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"note": "The customer confirmed the resolution."}]},
    )

    note: Note
