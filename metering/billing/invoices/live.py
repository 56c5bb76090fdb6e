"""Periods rated as of an instant, writing nothing: the upcoming invoice, the portal's
previous period and alerts show what the close would bill for the outcomes billable so far
(`metering.ledger.states.BILLABLE`).

The close's own steps measure and price (`measure_tallies`, `measured_usage`, `rate`), so a
live figure can never disagree with the invoice; only the outcome ids, which an invoice
keeps and a live figure does not show, are left out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session

from metering.billing.commitments.positions import positions_of
from metering.billing.invoices.rating import LineDraft, rate
from metering.billing.invoices.usage import (
    OutcomeTally,
    Tallies,
    measure_tallies,
    measure_tallies_at,
)
from metering.billing.invoices.values import ValueStream, measured_usage
from pricing_rules.periods import Period
from pricing_rules.rules import RuleFile


@dataclass(frozen=True, slots=True)
class LiveRating:
    """One customer's period as of an instant: its tally per outcome and its lines."""

    tallies: dict[str, OutcomeTally]
    lines: list[LineDraft]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))


def _rated(
    session: Session,
    rules: RuleFile,
    ids: list[str],
    period: Period,
    as_of: datetime,
    tallies: Tallies,
    values: ValueStream | None,
) -> dict[str, LiveRating]:
    """Each customer's lines as of `as_of` from its tallies and values, in id order (the
    stream's)."""
    positions = positions_of(session, rules, ids, (period.start, period.end), as_of)
    rated: dict[str, LiveRating] = {}
    for customer_id in ids:
        counted = tallies.get(customer_id, {})
        usage = measured_usage(rules, customer_id, counted, values)
        found = positions.get(customer_id)
        position = found.position if found else None
        lines = rate(rules, usage, {}, period.start, period.end, position=position)
        rated[customer_id] = LiveRating(counted, lines)
    return rated


def rate_live(
    session: Session,
    rules: RuleFile,
    customer_ids: Collection[str],
    period: Period,
    as_of: datetime,
) -> dict[str, LiveRating]:
    """Every customer of `customer_ids` (sharing `rules` and `period`), in one aggregate."""
    ids = sorted(customer_ids)
    with ValueStream(session, rules, ids, period.start, as_of) as stream:
        tallies = measure_tallies(session, rules, ids, period.start, as_of, with_ids=False)
        return _rated(session, rules, ids, period, as_of, tallies, stream)


def rate_live_at(
    session: Session,
    rules: RuleFile,
    customer_ids: Collection[str],
    period: Period,
    instants: Sequence[datetime],
) -> list[dict[str, LiveRating]]:
    """`rate_live` as of each of `instants` (the portal's "now" and "once every pending
    outcome settles"), from one aggregate which also adds up the percentage charges' values
    and per-event amounts (`summed`), so no value is read."""
    ids = sorted(customer_ids)
    every = measure_tallies_at(session, rules, ids, period.start, instants, summed=True)
    return [
        _rated(session, rules, ids, period, as_of, tallies, None)
        for as_of, tallies in zip(instants, every, strict=True)
    ]
