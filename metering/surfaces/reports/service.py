"""The margin report: per period, customer and outcome type, what was earned against the
AI cost spent to earn it.

Semantics (the numbers the API, the CLI and the vendor page all show):

* **Period.** A label such as `2026-11` read in each customer's plan (interval and
  timezone), cut to its subscriptions: a plan change inside the period makes two rows for
  the customer, each under its own plan version. Customers whose plan cannot read the
  label (a weekly plan asked for `2026-11`) are left out.
* **Outcomes.** Counted outcomes of the period, split into settled (billable as of the
  report) and pending (still inside their settle window).
* **Revenue.** For an invoiced period, the lines of every non-void invoice that price it:
  the period's own invoice and the credits and adjustments later invoices made for it. For
  a period not invoiced yet, the period rated live as of the report, as the upcoming
  invoice is. Lines of an outcome's charges are that outcome's revenue; flat fees, the
  minimum true-up and the cap are the customer's revenue "not per outcome".
* **Cost.** Each stored event's `cost`, priced by the pure core (`event_cost`) under the
  plan version of the subscription in force at the event's time (the one the event was
  matched under). Outcome events and cost-only events (stored as unmatched) both count;
  voided events do not. A cost that cannot be priced (a model without token prices, a
  currency other than the plan's) is reported as unpriced, counted by reason, never guessed.
* **Attribution** (`metering.surfaces.reports.attribution`): an outcome event's cost lands on its
  own outcome; other costs land on the earliest counted outcome of the same customer and
  period with the same `costs.attribute_to` key; the rest is unbilled cost.
* **Margin** = revenue - cost; margin percent = margin / revenue x 100, none when revenue
  is 0. A customer's margin subtracts attributed and unbilled cost from all its revenue.

Counting and billed lines are SQL aggregates; costs are priced while their events stream
(`yield_per`), a batch of customers sharing one period at a time, so memory holds one
batch's attribution keys, never the period's events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlmodel import Session, col, select

from metering.billing.credits.models import GrantCategory
from metering.billing.invoices.models import LineKind
from metering.billing.invoices.rating import rate
from metering.billing.invoices.usage import Tallies, measure_tallies
from metering.billing.invoices.values import ValueStream, measured_usage
from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import PlanRef, versions_by_id
from metering.catalog.subscriptions.models import Subscription
from metering.catalog.subscriptions.repository import of_customers
from metering.surfaces.reports import eventlog_costs, repository
from metering.surfaces.reports.attribution import Attribution, key_getter
from metering.surfaces.reports.margin import CustomerMargin, MarginReport
from pricing_rules.periods import INTERVALS, Period, clip, period_from_label
from pricing_rules.rules import RuleFile

BATCH_SIZE = 500
CUSTOMER_CHUNK = 1000
Progress = Callable[[int, int], None]
"""Called after each batch with (customer periods done, customer periods in the report)."""


@dataclass(frozen=True, slots=True)
class Part:
    """One customer's period under one subscription: a row of the report."""

    customer: Customer
    plan: PlanRef
    period: Period


def _customers(
    session: Session, vendor_id: str, customer_id: str | None
) -> Iterator[list[Customer]]:
    statement = select(Customer).where(Customer.vendor_id == vendor_id)
    if customer_id is not None:
        statement = statement.where(Customer.id == customer_id)
    customers = list(session.exec(statement.order_by(col(Customer.id))).all())
    for start in range(0, len(customers), CUSTOMER_CHUNK):
        yield customers[start : start + CUSTOMER_CHUNK]


class BadPeriod(ValueError):
    """A period label no billing interval can read."""


def check_label(label: str) -> str:
    """`label` if some interval reads it (2026-11-28, 2026-W48, 2026-11, 2026-Q4, 2026)."""
    for interval in INTERVALS:
        try:
            period_from_label(label, interval, "UTC")
        except ValueError:
            continue
        return label
    raise BadPeriod(
        f"period {label!r} is not a period label; expected a month such as 2026-11, or "
        "2026-11-28, 2026-W48, 2026-Q4, 2026 for plans billed by day, week, quarter or year"
    )


def _period_of(rules: RuleFile, label: str) -> Period | None:
    try:
        return period_from_label(label, rules.billing.interval, rules.billing.timezone)
    except ValueError:
        return None


def parts_of(
    session: Session,
    vendor_id: str,
    label: str,
    customer_id: str | None = None,
    plan_id: str | None = None,
) -> list[Part]:
    """Every customer period the label names, under the subscriptions that cover it."""
    parts = []
    for customers in _customers(session, vendor_id, customer_id):
        subscriptions = of_customers(session, [c.id for c in customers])
        versions = versions_by_id(
            session, {s.plan_version_id for subs in subscriptions.values() for s in subs}
        )
        for customer in customers:
            for sub in subscriptions.get(customer.id, []):
                part = _part(customer, sub, versions[sub.plan_version_id], label, plan_id)
                if part is not None:
                    parts.append(part)
    return parts


def _part(
    customer: Customer, sub: Subscription, plan: PlanRef, label: str, plan_id: str | None
) -> Part | None:
    if plan_id is not None and sub.plan_id != plan_id:
        return None
    period = _period_of(plan.plan.rules, label)
    if period is None:
        return None
    if not (period.start < (sub.ends_at or period.end) and sub.starts_at < period.end):
        return None
    return Part(customer, plan, clip(period, sub.starts_at, sub.ends_at))


def _batches(parts: Sequence[Part]) -> Iterator[list[Part]]:
    """Parts sharing a plan version and a period, `BATCH_SIZE` at a time."""

    def key(part: Part) -> tuple[str, datetime, datetime, str]:
        return (part.plan.version_id, part.period.start, part.period.end, part.customer.id)

    ordered = sorted(parts, key=key)
    for _, group in groupby(ordered, key=lambda part: key(part)[:3]):
        members = list(group)
        for start in range(0, len(members), BATCH_SIZE):
            yield members[start : start + BATCH_SIZE]


def margin_report(
    session: Session,
    vendor_id: str,
    label: str,
    as_of: datetime,
    *,
    customer_id: str | None = None,
    plan_id: str | None = None,
    progress: Progress | None = None,
) -> MarginReport:
    """The margin report of period `label` as of `as_of` (see the module docstring);
    `BadPeriod` when no interval reads the label."""
    check_label(label)
    parts = parts_of(session, vendor_id, label, customer_id, plan_id)
    report = MarginReport(period=label, as_of=as_of)
    done = 0
    for batch in _batches(parts):
        report.customers.extend(_batch_margins(session, vendor_id, batch, as_of))
        done += len(batch)
        if progress is not None:
            progress(done, len(parts))
    report.customers.sort(key=lambda row: (row.customer, row.period_start))
    return report


def _batch_margins(
    session: Session, vendor_id: str, batch: Sequence[Part], as_of: datetime
) -> list[CustomerMargin]:
    rules = batch[0].plan.plan.rules
    period = batch[0].period
    rows = {
        part.customer.id: CustomerMargin(
            customer_id=part.customer.id,
            customer=part.customer.external_id,
            plan=rules.plan,
            plan_version=rules.version,
            currency=rules.currency,
            period_start=period.start,
            period_end=period.end,
            overridden=part.plan.overridden,
        )
        for part in batch
    }
    ids = sorted(rows)
    tallies = measure_tallies(session, rules, ids, period.start, as_of, with_ids=False)
    for customer_id, outcomes in tallies.items():
        for name, tally in outcomes.items():
            row = rows[customer_id].outcome(name)
            row.settled, row.pending = tally.billable, tally.pending
            for value, group in tally.groups.items():
                part = row.of_value(value)
                part.settled, part.pending = group.billable, group.pending
    _add_revenue(session, rules, period, rows, tallies, as_of)
    _add_costs(session, vendor_id, rules, period, rows)
    return list(rows.values())


def _add_revenue(
    session: Session,
    rules: RuleFile,
    period: Period,
    rows: dict[str, CustomerMargin],
    tallies: Tallies,
    as_of: datetime,
) -> None:
    """Billed lines for invoiced periods, the live rating for the others."""
    invoiced = repository.invoiced(session, rows, period.start)
    for line in repository.billed_lines(session, invoiced, period.start):
        row = rows[line.customer_id]
        row.revenue_source = "invoice"
        if line.invoice_id not in row.invoice_ids:
            row.invoice_ids.append(line.invoice_id)
        if line.kind == LineKind.CREDITS.value:
            _add_credits(row, line.detail, line.amount)
        else:
            _add_line_revenue(row, line.outcome, line.detail, line.amount)
    live = sorted(set(rows) - invoiced)
    if not live:
        return
    with ValueStream(session, rules, live, period.start, as_of) as stream:
        for customer_id in live:  # the stream's order
            usage = measured_usage(rules, customer_id, tallies.get(customer_id, {}), stream)
            row = rows[customer_id]
            for draft in rate(rules, usage, {}, period.start, period.end):
                _add_line_revenue(row, draft.outcome, draft.detail, draft.amount)


def _add_credits(row: CustomerMargin, detail: Mapping[str, Any], amount: Decimal) -> None:
    """A credits line (negative: drawn; positive: given back): a promotional grant's is a
    discount, a paid grant's was collected in advance (counted as what it covered)."""
    if detail.get("category") == GrantCategory.PAID.value:
        row.prepaid_credits -= amount
    else:
        row.promotional_credits += amount


def _add_line_revenue(
    row: CustomerMargin, outcome: str | None, detail: Mapping[str, Any], amount: Decimal
) -> None:
    """A line's amount on its outcome (and its `group_by` value), or not per outcome."""
    if outcome is None:
        row.other_revenue += amount
        return
    item = row.outcome(outcome)
    item.revenue += amount
    group = detail.get("group")
    if group is not None:
        item.of_value(group["value"]).revenue += amount


def _add_costs(
    session: Session,
    vendor_id: str,
    rules: RuleFile,
    period: Period,
    rows: dict[str, CustomerMargin],
) -> None:
    """Price each cost while the events stream, and land it on its outcome or as unbilled."""
    getter = key_getter(rules)
    grouped = rules.group_paths
    counted = repository.counted_outcomes(session, rows, period.start) if getter else ()
    attribution = Attribution(getter, counted)
    costs = eventlog_costs.priced_costs(
        session, vendor_id, rules, rows, period.start, period.end, attribution
    )
    for customer_id, owner, priced, events in costs:
        row = rows[customer_id]
        if priced.amount is None:
            row.unpriced[priced.problem or "cost cannot be priced"] += events
            continue
        if owner is None:
            row.unbilled_cost += priced.amount
            continue
        outcome, value = owner
        item = row.outcome(outcome)
        item.cost += priced.amount
        if outcome in grouped:
            item.of_value(value).cost += priced.amount
