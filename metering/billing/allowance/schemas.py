"""API shapes of the allowance check and of a customer's spend limit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from metering.billing.credits.schemas import SignedMoneyText

_LIMIT_EXAMPLE: dict[str, Any] = {
    "kind": "plan_maximum",
    "on_reach": "block",
    "amount": "20.00",
    "units": None,
    "used": "12.00",
    "used_percent": "60.00",
    "warn_at": 50,
    "reached": False,
}
_ALLOWANCE_EXAMPLE: dict[str, Any] = {
    "customer_id": "cus_01m8yjszq3j4v5bfgqd1zj1zhy",
    "outcome": "resolved_conversation",
    "as_of": "2026-11-20T10:00:00Z",
    "currency": "usd",
    "period_start": "2026-11-01T00:00:00Z",
    "period_end": "2026-12-01T00:00:00Z",
    "state": "warning",
    "remaining_units": "2",
    "remaining_credit": "50.00",
    "period_spend": {"settled": "4.00", "pending": "8.00", "total": "12.00"},
    "units_used": "3",
    "over_limit": 0,
    "limit": _LIMIT_EXAMPLE,
    "reason": "60.00% of the plan's maximum of 20.00 is used (warning from 50%).",
    "limits": [_LIMIT_EXAMPLE],
}

CustomerId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
"""Our customer id (`cus_...`)."""

AllowanceState = Literal["ok", "warning", "blocked"]
OnReachName = Literal["notify", "stop_billing", "block"]
LimitKindName = Literal["plan_maximum", "customer_spend_limit", "outcome_units"]


class PeriodSpend(BaseModel):
    """The open period's spend so far: its charge lines before the minimum and the cap."""

    settled: str = Field(description="Spend of the outcomes settled by now.")
    pending: str = Field(description="Spend the pending outcomes add once they settle.")
    total: str


class LimitOut(BaseModel):
    """One limit of the period, and how much of it is used."""

    kind: LimitKindName
    on_reach: OnReachName
    amount: str | None = Field(None, description="A money limit, in the plan's currency.")
    units: str | None = Field(None, description="A unit limit of the outcome asked about.")
    used: str = Field(description="Spend (money limit) or units (unit limit) so far.")
    used_percent: str
    warn_at: int = Field(description="Percent from which the state is `warning`.")
    reached: bool


class AllowanceOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ALLOWANCE_EXAMPLE]})

    customer_id: str
    outcome: str
    as_of: datetime
    currency: str
    period_start: datetime
    period_end: datetime
    state: AllowanceState
    remaining_units: str | None = Field(
        description="How many more units of the outcome fit before the nearest limit that "
        "is not `notify` (at the marginal price for a money limit); null when unlimited or "
        "when the marginal price is not defined."
    )
    remaining_credit: str | None = Field(
        description="The customer's usable credit balance in the plan's currency, before "
        "the open period's draw; null without credits in that currency."
    )
    period_spend: PeriodSpend
    units_used: str = Field(description="Counted units of the outcome in the period.")
    over_limit: int = Field(description="Outcomes of the period held over a block limit.")
    limit: LimitOut | None = Field(description="The limit that decides the state.")
    reason: str = Field(description="Why the state is what it is, in one sentence.")
    limits: list[LimitOut]


class AllowanceBatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcome": "resolved_conversation",
                    "customer_ids": ["cus_01m8yjszq3j4v5bfgqd1zj1zhy"],
                }
            ]
        },
    )

    outcome: str = Field(min_length=1, max_length=200)
    customer_ids: list[CustomerId] = Field(min_length=1, max_length=100)


class AllowanceItem(BaseModel):
    """One customer of a batch: its allowance, or the problem that kept it from one."""

    customer_id: str
    allowance: AllowanceOut | None = None
    problem: dict[str, object] | None = None


class AllowanceBatchOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data": [
                        {
                            "customer_id": _ALLOWANCE_EXAMPLE["customer_id"],
                            "allowance": _ALLOWANCE_EXAMPLE,
                            "problem": None,
                        }
                    ]
                }
            ]
        }
    )

    data: list[AllowanceItem]


class SpendLimitIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"amount": "500.00", "on_reach": "block"}]}
    )

    amount: SignedMoneyText = Field(description="Above zero, and at most the plan's maximum.")
    on_reach: OnReachName = "block"


class SpendLimitOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "cus_01m8yjszq3j4v5bfgqd1zj1zhy",
                    "amount": "500.00",
                    "on_reach": "block",
                }
            ]
        }
    )

    customer_id: str
    amount: str | None
    on_reach: OnReachName | None
