"""API shape of a customer's consumption against its commitment.

Units are decimal strings ("12000", "37.5"), as every decimal in an answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_EXAMPLE: dict[str, Any] = {
    "customer_id": "cus_01j9z8k6m5e3f0d2c1b0a9z8y7",
    "form": "units",
    "outcome": "resolved_conversation",
    "committed": "12000",
    "used": "9400",
    "remaining": "2600",
    "projected": "12533",
    "price": "0.50",
    "term_start": "2026-01-01T00:00:00Z",
    "term_end": "2027-01-01T00:00:00Z",
    "as_of": "2026-10-01T00:00:00Z",
}


class CommitmentOut(BaseModel):
    """Where the customer stands in its commitment term, as of now."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    customer_id: str
    form: Literal["units", "amount"] = Field(
        description="units: units of one outcome; amount: spend at the plan's prices, where "
        "committed, used, remaining and projected are amounts of the plan's currency."
    )
    outcome: str | None = Field(description="The committed outcome (null for an amount).")
    committed: str = Field(description="Units (or the amount) committed over the term.")
    used: str = Field(
        description="Units billable so far in the term (settled, across its periods and "
        "plan versions)."
    )
    remaining: str = Field(description="Committed units not used yet (0 once past it).")
    projected: str = Field(
        description="Units the term will have used at its end at the rate so far."
    )
    price: str | None = Field(description="Price of each committed unit (null for an amount).")
    term_start: datetime
    term_end: datetime
    as_of: datetime
