"""Which periods a simulation prices for one customer, under each side's rules.

Each side cuts its own periods (the proposed file may change the interval or timezone),
clipped to the customer's subscriptions, exactly as the close cuts them. A period is priced
as the close prices it: as of its end plus `close_after`, or as of now while it is open.
Periods that have not started by now are left out: nothing can have happened in them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from metering.catalog.subscriptions.repository import Term
from pricing_rules.outcomes import CompiledPlan
from pricing_rules.periods import Period, clip, next_period, period_containing


class Side(StrEnum):
    CURRENT = "current"
    PROPOSED = "proposed"


@dataclass(frozen=True, slots=True)
class Window:
    """One period of one customer priced under one side's rules."""

    side: Side
    plan: CompiledPlan
    period: Period
    as_of: datetime


def term_windows(
    term: Term, proposed: CompiledPlan, start: datetime, end: datetime, now: datetime
) -> list[Window]:
    """The periods of `term` overlapping [start, end), under its version and the proposal."""
    return [
        *_windows(Side.CURRENT, term.plan.plan, term, start, end, now),
        *_windows(Side.PROPOSED, proposed, term, start, end, now),
    ]


def customer_windows(
    terms: Sequence[Term], proposed: CompiledPlan, start: datetime, end: datetime, now: datetime
) -> list[Window]:
    """Every window of one customer's terms, earliest period first."""
    windows = [w for term in terms for w in term_windows(term, proposed, start, end, now)]
    return sorted(windows, key=lambda w: (w.period.start, w.side))


def _windows(
    side: Side, plan: CompiledPlan, term: Term, start: datetime, end: datetime, now: datetime
) -> Iterator[Window]:
    low = max(start, term.starts_at)
    high = min(end, now) if term.ends_at is None else min(end, now, term.ends_at)
    if low >= high:
        return
    billing = plan.rules.billing
    period = period_containing(low, billing.interval, billing.timezone)
    while period.start < high:
        clipped = clip(period, term.starts_at, term.ends_at)
        yield Window(side, plan, clipped, min(clipped.end + billing.close_after, now))
        period = next_period(period, billing.interval, billing.timezone)
