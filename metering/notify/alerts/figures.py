"""The live figures of customers' periods, rated exactly as the close rates them.

`metering.billing.invoices.live` rates with the close's own steps, so an alert's spend is the amount
the invoice will show for what has settled so far, never a second rating that could disagree.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session

from metering.billing.invoices.live import rate_live
from pricing_rules.periods import Period
from pricing_rules.rules import RuleFile

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """One customer's period as of some instant.

    `charges`: the charge lines (what the usage costs, uncapped); `spend`: what the invoice
    bills for them so far (with a stop_billing cap line, before any minimum true-up);
    `outcomes`: billable outcomes per name (`metering.ledger.states.BILLABLE`).
    """

    charges: Decimal = ZERO
    spend: Decimal = ZERO
    outcomes: dict[str, int] = field(default_factory=dict)

    def outcome_count(self, outcome: str | None) -> int:
        if outcome is None:
            return sum(self.outcomes.values())
        return self.outcomes.get(outcome, 0)


def period_figures(
    session: Session,
    rules: RuleFile,
    customer_ids: Collection[str],
    period: Period,
    as_of: datetime,
) -> dict[str, PeriodFigures]:
    """The figures of customers sharing a plan version and a period, in one aggregate."""
    return {
        customer_id: PeriodFigures(
            charges=sum((line.amount for line in rated.lines if line.kind == "charge"), ZERO),
            spend=sum((line.amount for line in rated.lines if line.kind != "minimum"), ZERO),
            outcomes={name: tally.billable for name, tally in rated.tallies.items()},
        )
        for customer_id, rated in rate_live(session, rules, customer_ids, period, as_of).items()
    }
