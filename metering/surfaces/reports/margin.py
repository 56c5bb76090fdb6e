"""The figures of a margin report, as plain values: no database, no rounding.

Amounts stay unrounded `Decimal`s in the plan's currency; they are rounded to the
currency's minor unit only where they are displayed (CLI table, vendor page).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

ZERO = Decimal(0)
HUNDRED = Decimal(100)


def margin_percent(revenue: Decimal, margin: Decimal) -> Decimal | None:
    """Margin as a percent of revenue; None when there is no revenue to divide by."""
    if revenue == 0:
        return None
    return margin * HUNDRED / revenue


def value_order(value: str | None) -> tuple[bool, str]:
    """`group_by` values as invoices list them: by text, events without one last."""
    return (value is None, value or "")


class _RevenueAndCost(Protocol):
    @property
    def revenue(self) -> Decimal: ...

    @property
    def cost(self) -> Decimal: ...


class _CostParts(Protocol):
    @property
    def attributed_cost(self) -> Decimal: ...

    @property
    def unbilled_cost(self) -> Decimal: ...


class _Margin:
    """`margin` and `margin_percent` of a class that has `revenue` and `cost`."""

    __slots__ = ()

    @property
    def margin(self: _RevenueAndCost) -> Decimal:
        return self.revenue - self.cost

    @property
    def margin_percent(self: _RevenueAndCost) -> Decimal | None:
        return margin_percent(self.revenue, self.revenue - self.cost)


class _SplitCost(_Margin):
    """`cost` (and so the margin) of a class whose cost is attributed to outcomes or not."""

    __slots__ = ()

    @property
    def cost(self: _CostParts) -> Decimal:
        return self.attributed_cost + self.unbilled_cost


@dataclass(slots=True)
class OutcomeMargin(_Margin):
    """One outcome type of one customer's period; `values` splits it by the value of the
    `group_by` path its charges price it by (revenue there is what grouped lines billed)."""

    outcome: str
    settled: int = 0
    pending: int = 0
    revenue: Decimal = ZERO
    cost: Decimal = ZERO
    value: str | None = None
    values: dict[str | None, OutcomeMargin] = field(default_factory=dict)

    def of_value(self, value: str | None) -> OutcomeMargin:
        found = self.values.get(value)
        if found is None:
            found = self.values[value] = OutcomeMargin(self.outcome, value=value)
        return found

    def add(self, other: OutcomeMargin) -> None:
        """Add `other`'s figures, value by value."""
        self.settled += other.settled
        self.pending += other.pending
        self.revenue += other.revenue
        self.cost += other.cost
        for value, item in other.values.items():
            self.of_value(value).add(item)


@dataclass(slots=True)
class CustomerMargin(_SplitCost):
    """One customer's period under one subscription (a plan change mid-period makes two).

    `revenue_source` is `invoice` when the period is invoiced (its lines, with the credits
    and adjustments later invoices made for it), `live` when it is rated as of the report.
    `other_revenue` is what no outcome carries: flat fees, the minimum true-up, the cap.
    Credits that paid the invoice: `promotional_credits` (negative) is a discount, so it
    lowers `revenue`; `prepaid_credits` is what paid grants covered, revenue collected in
    advance (when they were bought), so `revenue` keeps it.
    """

    customer_id: str
    customer: str
    plan: str
    plan_version: int
    currency: str
    period_start: datetime
    period_end: datetime
    revenue_source: str = "live"
    overridden: bool = False
    """Billed by the customer's own override of `plan_version` (kept under its plan)."""
    invoice_ids: list[str] = field(default_factory=list)
    outcomes: dict[str, OutcomeMargin] = field(default_factory=dict)
    other_revenue: Decimal = ZERO
    promotional_credits: Decimal = ZERO
    prepaid_credits: Decimal = ZERO
    unbilled_cost: Decimal = ZERO
    unpriced: Counter[str] = field(default_factory=Counter)

    def outcome(self, name: str) -> OutcomeMargin:
        found = self.outcomes.get(name)
        if found is None:
            found = self.outcomes[name] = OutcomeMargin(name)
        return found

    @property
    def outcome_revenue(self) -> Decimal:
        return sum((o.revenue for o in self.outcomes.values()), ZERO)

    @property
    def revenue(self) -> Decimal:
        return self.outcome_revenue + self.other_revenue + self.promotional_credits

    @property
    def attributed_cost(self) -> Decimal:
        return sum((o.cost for o in self.outcomes.values()), ZERO)

    @property
    def unpriced_events(self) -> int:
        return sum(self.unpriced.values())


@dataclass(slots=True)
class CurrencyTotals(_SplitCost):
    """Every customer period of the report billed in one currency, added up, also per
    outcome type."""

    currency: str
    outcomes: dict[str, OutcomeMargin] = field(default_factory=dict)
    settled: int = 0
    pending: int = 0
    revenue: Decimal = ZERO
    promotional_credits: Decimal = ZERO
    prepaid_credits: Decimal = ZERO
    attributed_cost: Decimal = ZERO
    unbilled_cost: Decimal = ZERO
    unpriced_events: int = 0

    def add(self, row: CustomerMargin) -> None:
        for name, item in row.outcomes.items():
            self.outcomes.setdefault(name, OutcomeMargin(name)).add(item)
        self.settled += sum(o.settled for o in row.outcomes.values())
        self.pending += sum(o.pending for o in row.outcomes.values())
        self.revenue += row.revenue
        self.promotional_credits += row.promotional_credits
        self.prepaid_credits += row.prepaid_credits
        self.attributed_cost += row.attributed_cost
        self.unbilled_cost += row.unbilled_cost
        self.unpriced_events += row.unpriced_events


@dataclass(slots=True)
class MarginReport:
    """The report of one period label (`2026-11`) as of one instant."""

    period: str
    as_of: datetime
    customers: list[CustomerMargin] = field(default_factory=list)

    @property
    def totals(self) -> list[CurrencyTotals]:
        by_currency: dict[str, CurrencyTotals] = {}
        for row in self.customers:
            by_currency.setdefault(row.currency, CurrencyTotals(row.currency)).add(row)
        return [by_currency[c] for c in sorted(by_currency)]
