"""What one rule file makes of each event, outcome by outcome: the per-event side of a backtest.

`OutcomeLedger` prices a period but keeps only what pricing needs (one entry per dedupe key,
duplicates counted, not named). A simulation also shows *which* events change treatment, so
this tracker follows one customer's period with the same core steps storage runs: the
compiled `where` of each outcome, its dedupe and match keys (`hit`), the reversals, and
`resolve_key` per dedupe key. Memory: one small tuple per candidate event of the period.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pricing_rules.events import Event
from pricing_rules.outcomes import Candidate, CompiledPlan, resolve_key
from pricing_rules.periods import Period


class Treatment(StrEnum):
    """What became of an event for one outcome (the stored states, plus why it is none)."""

    COUNTED = "counted"
    PENDING = "pending"
    PROBLEM = "problem"
    DEDUPLICATED = "deduplicated"
    REVERSED = "reversed"
    EXCLUDED = "excluded by where"
    NOT_MATCHED = "not matched"


TreatmentKey = tuple[str, str]
"""(event id, outcome name)."""

# A candidate as kept: (candidate, problem, settles at).
_Kept = tuple[Candidate, str | None, datetime]


class TreatmentTracker:
    """One customer's events of one period under one rule file, as of one time.

    Fed the events of [period start, as_of] (in any order, any number of calls), it gives the
    treatment of every (event, outcome) whose event type the outcome names; any other pair is
    `NOT_MATCHED`. It follows the ledger's window: events after `as_of` are ignored, and
    reversals count from anywhere up to `as_of`.
    """

    def __init__(self, plan: CompiledPlan, period: Period, as_of: datetime) -> None:
        self.plan = plan
        self.period = period
        self.as_of = as_of
        self._excluded: list[TreatmentKey] = []
        self._candidates: dict[tuple[str, str], list[_Kept]] = {}
        self._last_reversal: dict[str, dict[str, datetime]] = {}

    def add_all(self, events: Iterable[Event]) -> None:
        as_of, start, end = self.as_of, self.period.start, self.period.end
        outcomes_of = self.plan.outcomes_by_type.get
        reversals_of = self.plan.reversals_by_type.get
        for event in events:
            ts = event.timestamp
            if ts > as_of:
                continue
            for reversal in reversals_of(event.type, ()):
                if reversal.matches(event) and (hit := reversal.hit(event)) is not None:
                    latest = self._last_reversal.setdefault(hit.outcome, {})
                    seen = latest.get(hit.match_key)
                    if seen is None or ts > seen:
                        latest[hit.match_key] = ts
            if not start <= ts < end:
                continue
            for outcome in outcomes_of(event.type, ()):
                if not outcome.matches(event):
                    self._excluded.append((event.id, outcome.name))
                    continue
                found = outcome.hit(event)
                kept = (Candidate(event.id, ts, found.match_key), found.problem, found.settles_at)
                self._candidates.setdefault((outcome.name, found.dedupe_key), []).append(kept)

    def resolve(self) -> dict[TreatmentKey, Treatment]:
        """The treatment of every (event, outcome) the rule file considered."""
        result = dict.fromkeys(self._excluded, Treatment.EXCLUDED)
        for (outcome, _), kept in self._candidates.items():
            by_id = {candidate.event_id: (problem, settles) for candidate, problem, settles in kept}
            resolution = resolve_key([k[0] for k in kept], self._last_reversal.get(outcome, {}))
            if resolution.winner is not None:
                event_id = resolution.winner.event_id
                problem, settles_at = by_id[event_id]
                if problem is not None:
                    result[(event_id, outcome)] = Treatment.PROBLEM
                elif settles_at > self.as_of:
                    result[(event_id, outcome)] = Treatment.PENDING
                else:
                    result[(event_id, outcome)] = Treatment.COUNTED
            for candidate in resolution.reversed:
                result[(candidate.event_id, outcome)] = Treatment.REVERSED
            for candidate in resolution.duplicates:
                result[(candidate.event_id, outcome)] = Treatment.DEDUPLICATED
        return result
