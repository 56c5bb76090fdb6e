"""What one event says, as the storage layer stores it: the outcome candidacies it makes
and the claims (reversal, rejection, confirmation) it makes on other outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pricing_rules.measures import MeasureValue


@dataclass(frozen=True, slots=True)
class OutcomeHit:
    """An event is a candidate for `outcome` under `dedupe_key`."""

    outcome: str
    dedupe_key: str
    match_key: str | None
    value: MeasureValue
    problem: str | None
    settles_at: datetime
    verify_by: datetime | None = None
    """The end of its confirmation window, for a verified outcome."""
    dimension: str | None = None
    """The value of the outcome's `group_by` path, when a charge prices it per value."""


class ClaimKind(StrEnum):
    """What an event says of the candidates of an outcome with its match key."""

    REVERSAL = "reversal"
    REJECTION = "rejection"
    CONFIRMATION = "confirmation"


@dataclass(frozen=True, slots=True)
class ReversalHit:
    """An event's claim (a reversal by default) on the outcomes of `outcome` whose match key
    is `match_key`."""

    outcome: str
    match_key: str
    kind: ClaimKind = ClaimKind.REVERSAL


@dataclass(frozen=True, slots=True)
class Classification:
    outcomes: tuple[OutcomeHit, ...] = ()
    reversals: tuple[ReversalHit, ...] = ()

    @property
    def matched(self) -> bool:
        return bool(self.outcomes or self.reversals)


UNMATCHED = Classification()
