"""API shapes of alert rules and their firings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from metering.notify.alerts.models import AlertKind
from metering.platform.api.inputs import StoredAmount

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class AlertCreate(BaseModel):
    """A threshold on each period of one customer, or of every subscriber of one plan."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "spend", "threshold": "1000.00", "plan": "support-agent"},
                {
                    "kind": "outcome_count",
                    "threshold": "500",
                    "customer": "cus_01j9...",
                    "outcome": "resolved_conversation",
                },
                {"kind": "maximum_percent", "threshold": "80", "plan": "support-agent"},
            ]
        },
    )

    kind: AlertKind = Field(
        description="spend: the period's charges in the plan currency (before a minimum "
        "true-up, after a stop_billing cap); outcome_count: billable outcomes (of `outcome`, "
        "or all); maximum_percent: the charges as a percent of the plan's `maximum` amount."
    )
    threshold: StoredAmount = Field(gt=0, description="Fires when the figure reaches it.")
    customer: str | None = Field(default=None, description="A customer id (cus_...).")
    plan: str | None = Field(default=None, description="A plan id or slug: all its subscribers.")
    outcome: str | None = Field(default=None, max_length=200)
    name: Name | None = None

    @model_validator(mode="after")
    def _one_scope(self) -> Self:
        if (self.customer is None) == (self.plan is None):
            raise ValueError("give exactly one of customer and plan")
        if self.outcome is not None and self.kind != AlertKind.OUTCOME_COUNT:
            raise ValueError("outcome applies to outcome_count alerts only")
        if self.kind == AlertKind.OUTCOME_COUNT and self.threshold != self.threshold.to_integral():
            raise ValueError("an outcome_count threshold is a whole number")
        return self


class AlertOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "alr_01m8y51j4zedbgk7c8jkeatt3g",
                    "kind": "spend",
                    "threshold": "1000",
                    "customer_id": None,
                    "plan_id": "pln_01m8y51h4x1mnd2xf51bcj0341",
                    "outcome": None,
                    "name": "Spend over 1,000",
                    "created_at": "2026-11-02T09:20:00Z",
                }
            ]
        }
    )

    id: str
    kind: str
    threshold: str
    customer_id: str | None
    plan_id: str | None
    outcome: str | None
    name: str | None
    created_at: datetime


class FiringOut(BaseModel):
    """One crossing: the rule (or the plan maximum), the customer's period, the figures."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "rule_id": "alr_01m8y51j4zedbgk7c8jkeatt3g",
                    "kind": "spend",
                    "customer_id": "cus_01m8y51h6wnk2mcpywvn5sm0n5",
                    "period_start": "2026-11-01T00:00:00Z",
                    "period_end": "2026-12-01T00:00:00Z",
                    "figure": "1003.95",
                    "threshold": "1000",
                    "fired_at": "2026-11-24T10:01:00Z",
                }
            ]
        }
    )

    id: int
    rule_id: str | None
    kind: str
    customer_id: str
    period_start: datetime
    period_end: datetime
    figure: str
    threshold: str
    fired_at: datetime
