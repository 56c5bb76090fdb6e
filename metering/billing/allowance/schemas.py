"""API shapes of the allowance check and of a customer's spend limit."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from metering.billing.credits.schemas import SignedMoneyText

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
    outcome: str = Field(min_length=1, max_length=200)
    customer_ids: list[str] = Field(min_length=1, max_length=100)


class AllowanceItem(BaseModel):
    """One customer of a batch: its allowance, or the problem that kept it from one."""

    customer_id: str
    allowance: AllowanceOut | None = None
    problem: dict[str, object] | None = None


class AllowanceBatchOut(BaseModel):
    data: list[AllowanceItem]


class SpendLimitIn(BaseModel):
    amount: SignedMoneyText = Field(description="Above zero, and at most the plan's maximum.")
    on_reach: OnReachName = "block"


class SpendLimitOut(BaseModel):
    customer_id: str
    amount: str | None
    on_reach: OnReachName | None
