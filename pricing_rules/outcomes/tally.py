"""One customer's outcome of one kind while the ledger resolves, and the shapes the ledger
keeps its candidates in (plain tuples: the hot loops read them by position)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pricing_rules.events import Event
from pricing_rules.measures import Accumulator, Measure, MeasureValue
from pricing_rules.outcomes.key_resolution import Verification
from pricing_rules.outcomes.usage import OutcomeUsage, Winner
from pricing_rules.paths import Getter

# A candidate as the ledger keeps it: (timestamp, event id, match key, value, problem,
# group_by value).
Kept = tuple[datetime, str, str | None, MeasureValue, str | None, str | None]
CustomerKey = tuple[str, str]
"""A dedupe key within one customer: (outcome, dedupe key)."""
ConfirmationTimes = tuple[datetime, ...] | list[datetime]
"""The confirmation times of one match key."""
ClaimStep = tuple[
    str, Callable[[Event], bool] | None, Getter, dict[tuple[str, str], dict[str, Any]], bool
]
"""A claim an event type makes, as the hot loop reads it: (outcome, matches, match key
getter, where the ledger keeps such claims, whether it is a confirmation); matches is None
without `where`."""


@dataclass(slots=True)
class Tally:
    """One customer's outcome of one kind while the ledger resolves: its usage, and the
    claims on its match keys."""

    usage: OutcomeUsage
    accumulator: Accumulator
    settled_by: datetime
    """A winner that occurred after this has not settled as of the resolution's time."""
    reversals: Mapping[str, datetime] | None
    rejections: Mapping[str, datetime] | None
    confirmations: Mapping[str, ConfirmationTimes]
    verification: Verification | None
    counted_by: datetime | None
    """With `otherwise: count`, an unconfirmed candidate counts if it occurred by this."""
    place: int
    """Its outcome's place in `exclusive.order` (-1: not exclusive)."""
    rivals: tuple[str, ...]
    """The outcomes before it in `exclusive.order`, which supersede it on a shared subject."""
    subjects: dict[str, int] | None
    """The customer's best place billed per subject, for an exclusive outcome."""
    by_count: bool
    """Its measure is `count`: the quantity is the number billed, no accumulator is fed."""
    measure: Measure | None = None
    """For an outcome a charge prices per `group_by` value: each value is measured apart."""
    groups: dict[str | None, tuple[OutcomeUsage, Accumulator]] = field(default_factory=dict)
    held: Collection[str] = ()
    """Event ids of winners held over a limit: neither pending nor billed."""
    winners: list[Winner] | None = None
    """When asked for, every billed winner (pending or not) is noted here."""

    def count(self, winner: Kept) -> None:
        """A key's billed winner: pending until it settles, then measured (and measured
        under its `group_by` value too, when it has one)."""
        occurred_at, event_id, _, value, _, group = winner
        usage = self.usage
        if self.winners is not None:
            self.winners.append(Winner(usage.outcome, occurred_at, event_id, value))
        if self.held and event_id in self.held:
            usage.over_limit += 1
            return
        if occurred_at > self.settled_by:
            usage.pending += 1
            return
        usage.billable += 1
        by_count = self.by_count
        if not by_count:
            if isinstance(value, Decimal):
                usage.values.append(value)
            self.accumulator.add(value, occurred_at, event_id)
        if self.measure is not None:
            by_value = self.groups.get(group)
            if by_value is None:
                by_value = self.groups[group] = (
                    OutcomeUsage(usage.outcome),
                    self.measure.accumulator(),
                )
                usage.groups[group] = by_value[0]
            by_value[0].billable += 1
            if not by_count:
                by_value[1].add(value, occurred_at, event_id)

    def finish(self) -> None:
        """Set the quantities once every key is counted."""
        usage = self.usage
        if self.by_count:
            usage.quantity = Decimal(usage.billable)
            for by_value, _ in self.groups.values():
                by_value.quantity = Decimal(by_value.billable)
            return
        usage.quantity = self.accumulator.result()
        for by_value, accumulator in self.groups.values():
            by_value.quantity = accumulator.result()
