"""Price a stream of events for one period: the whole core composed, start to end.

This is what `metering rules price`, simulations and the benchmark call; billing from the
database computes the same `MeasuredUsage` with SQL and calls the same `price_usage`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from pricing_rules.events import Event
from pricing_rules.money import minor_units
from pricing_rules.outcomes import CustomerUsage, OutcomeLedger, OutcomeUsage, compile_plan
from pricing_rules.periods import Period
from pricing_rules.pricing import MeasuredUsage, PricedInvoice, price_usage
from pricing_rules.rules import RuleFile

UnbilledCount = Literal["pending", "reversed", "superseded", "rejected", "awaiting_verification"]
UNBILLED_COUNTS: tuple[UnbilledCount, ...] = get_args(UnbilledCount)
"""The outcomes a report counts per outcome type beside the billed ones, by why they are not
billed (yet): `awaiting_verification` is `OutcomeUsage.awaiting`."""


@dataclass(frozen=True, slots=True)
class CustomerPricing:
    customer: str
    invoice: PricedInvoice
    usage: CustomerUsage


@dataclass(frozen=True, slots=True)
class PricingReport:
    rules: RuleFile
    period: Period
    as_of: datetime
    customers: tuple[CustomerPricing, ...]

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape: amounts as decimal strings in major units."""
        exponent = minor_units(self.rules.currency)
        return {
            "plan": self.rules.plan,
            "version": self.rules.version,
            "currency": self.rules.currency,
            "period": {"start": self.period.start.isoformat(), "end": self.period.end.isoformat()},
            "as_of": self.as_of.isoformat(),
            "customers": [
                {
                    "customer": c.customer,
                    "lines": [
                        {
                            "charge": line.charge,
                            "quantity": decimal_text(line.quantity),
                            "amount": money_text(line.amount, exponent),
                        }
                        for line in c.invoice.lines
                    ],
                    **{kind: self._counts(c.usage, kind) for kind in UNBILLED_COUNTS},
                    "problems": [
                        {"event": p.event_id, "outcome": p.outcome, "message": p.message}
                        for p in c.usage.problems
                    ],
                    "total": money_text(c.invoice.total, exponent),
                }
                for c in self.customers
            ],
        }

    def _counts(self, usage: CustomerUsage, kind: UnbilledCount) -> dict[str, int]:
        """Every outcome of the plan with its count, 0 when the customer had none."""
        field = "awaiting" if kind == "awaiting_verification" else kind
        return {
            name: getattr(found, field) if (found := usage.outcomes.get(name)) else 0
            for name in self.rules.outcomes
        }


def decimal_text(value: Decimal) -> str:
    """A quantity without float noise or exponent: 6, 12.5, 0.001."""
    return format(value.normalize(), "f")


def money_text(amount: Decimal, exponent: int) -> str:
    return str(amount.quantize(Decimal(1).scaleb(-exponent)))


def price_events(
    rules: RuleFile, events: Iterable[Event], period: Period, as_of: datetime | None = None
) -> PricingReport:
    """Every customer with an event in `period`, priced as of `as_of` (default: period end)."""
    as_of = period.end if as_of is None else as_of
    ledger = OutcomeLedger(compile_plan(rules), period, as_of)
    ledger.add_all(events)
    priced = tuple(
        CustomerPricing(customer, price_customer(rules, usage), usage)
        for customer, usage in ledger.resolve().items()
    )
    return PricingReport(rules, period, as_of, priced)


def price_customer(rules: RuleFile, usage: CustomerUsage) -> PricedInvoice:
    """Price one customer's in-memory usage with the same lines as billing from storage."""
    measured = {name: _measured(o) for name, o in usage.outcomes.items()}
    return price_usage(rules, measured)


def _measured(usage: OutcomeUsage) -> MeasuredUsage:
    return MeasuredUsage(
        quantity=usage.quantity,
        events=usage.billable,
        values=_values_of(usage),
        groups={value: _measured(group) for value, group in usage.groups.items()},
    )


def _values_of(usage: OutcomeUsage) -> Callable[[], Iterable[Decimal]]:
    return lambda: usage.values
