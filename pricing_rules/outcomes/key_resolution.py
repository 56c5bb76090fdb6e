"""The order-independent rules that decide, among the candidates of one dedupe key, which
one counts, and among a subject's exclusive outcomes, which one is billed (see the
package docstring)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pricing_rules.measures import MeasureValue


@dataclass(frozen=True, slots=True)
class Candidate:
    """One event competing for a dedupe key; value and problem ride along for the ledger."""

    event_id: str
    occurred_at: datetime
    match_key: str | None = None
    value: MeasureValue = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class KeyResolution:
    winner: Candidate | None
    reversed: list[Candidate]
    duplicates: list[Candidate]
    rejected: list[Candidate] = field(default_factory=list)
    awaiting: list[Candidate] = field(default_factory=list)


NO_CLAIMS: Mapping[str, datetime] = {}


def resolve_key(
    candidates: Sequence[Candidate],
    last_reversal: Mapping[str, datetime],
    last_rejection: Mapping[str, datetime] = NO_CLAIMS,
    awaiting: Collection[str] = (),
) -> KeyResolution:
    """Decide which candidate of one dedupe key counts (see the module docstring).

    `last_rejection`: the latest rejection of each match key; `awaiting`: the event ids of
    candidates still waiting for their confirmation (`Verification.counts_from`).
    """
    winner: Candidate | None = None
    reversed_: list[Candidate] = []
    duplicates: list[Candidate] = []
    rejected: list[Candidate] = []
    waiting: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: (c.occurred_at, c.event_id)):
        match = candidate.match_key
        rejection = None if match is None else last_rejection.get(match)
        reversal = None if match is None else last_reversal.get(match)
        if rejection is not None and rejection >= candidate.occurred_at:
            rejected.append(candidate)
        elif reversal is not None and reversal >= candidate.occurred_at:
            reversed_.append(candidate)
        elif candidate.event_id in awaiting:
            waiting.append(candidate)
        elif winner is None:
            winner = candidate
        else:
            duplicates.append(candidate)
    return KeyResolution(winner, reversed_, duplicates, rejected, waiting)


@dataclass(frozen=True, slots=True)
class Verification:
    """`settle.confirmed_by` of one outcome, as the resolution reads it."""

    within: timedelta
    count_unconfirmed: bool

    def counts_from(
        self, occurred_at: datetime, confirmations: Iterable[datetime]
    ) -> datetime | None:
        """When a candidate that occurred at `occurred_at` may count: at its first
        confirmation inside its window, else at the window's end with `otherwise: count`,
        else never (None)."""
        deadline = occurred_at + self.within
        first = None
        for at in confirmations:
            if occurred_at <= at <= deadline and (first is None or at < first):
                first = at
        if first is not None:
            return first
        return deadline if self.count_unconfirmed else None


def exclusive_winner(billed: Sequence[Candidate | None]) -> int | None:
    """Among the billed winners of one subject's keys, in the plan's `exclusive.order`, the
    index of the one that counts: the first there is. The others are superseded."""
    for index, candidate in enumerate(billed):
        if candidate is not None:
            return index
    return None
