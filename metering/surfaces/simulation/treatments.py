"""What one rule file makes of each event, outcome by outcome: the per-event side of a backtest.

`OutcomeLedger` prices a period but keeps only what pricing needs (one entry per dedupe key,
duplicates counted, not named). A simulation also shows *which* events change treatment, so
this tracker follows one customer's period with the same core steps storage runs: the
compiled `where` of each outcome, its dedupe and match keys (`evaluate`), the reversals,
and `resolve_key` per dedupe key (only for keys with several candidates or a reversal, as
in the ledger); the winner's treatment follows the ledger's own rules, `winner_state` and
`SETTLED` (`metering.ledger.states`). Memory: one small tuple per candidate event of the
period.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from metering.ledger import states
from metering.ledger.states import OutcomeState
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

# A candidate as kept: (timestamp, event id, match key, problem).
_Kept = tuple[datetime, str, str | None, str | None]


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
        self._excluded: dict[str, list[str]] = {}  # outcome -> event ids
        # Most keys have one candidate: kept alone, a list only from the second on.
        self._single: dict[tuple[str, str], _Kept] = {}
        self._several: dict[tuple[str, str], list[_Kept]] = {}
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
                    self._excluded.setdefault(outcome.name, []).append(event.id)
                    continue
                key, match_key, _, problem = outcome.evaluate(event)
                kept = (ts, event.id, match_key, problem)
                gkey = (outcome.name, key)
                first = self._single.setdefault(gkey, kept)
                if first is not kept:
                    self._several.setdefault(gkey, [first]).append(kept)

    def resolve(self) -> dict[TreatmentKey, Treatment]:
        """The treatment of every (event, outcome) the rule file considered."""
        result = {
            (event_id, outcome): Treatment.EXCLUDED
            for outcome, event_ids in self._excluded.items()
            for event_id in event_ids
        }
        settle_after = {name: spec.settle.after for name, spec in self.plan.rules.outcomes.items()}
        as_of, settled, winner_state = self.as_of, states.SETTLED.holds, states.winner_state
        for gkey, first in self._single.items():
            outcome = gkey[0]
            reversals = self._last_reversal.get(outcome, {})
            several = self._several.get(gkey)
            if several is None and first[2] not in reversals:
                winner: _Kept | None = first  # alone and never reversed: no contest
            else:
                winner = self._contest(outcome, several or [first], reversals, result)
            if winner is None:
                continue
            occurred_at, event_id, _, problem = winner
            if winner_state(problem, False) is OutcomeState.PROBLEM:
                result[(event_id, outcome)] = Treatment.PROBLEM
            elif not settled(occurred_at + settle_after[outcome], as_of):
                result[(event_id, outcome)] = Treatment.PENDING
            else:
                result[(event_id, outcome)] = Treatment.COUNTED
        return result

    @staticmethod
    def _contest(
        outcome: str,
        kept: list[_Kept],
        reversals: dict[str, datetime],
        result: dict[TreatmentKey, Treatment],
    ) -> _Kept | None:
        """`resolve_key` over one key's candidates; records the losers, returns the winner."""
        by_id = {k[1]: k for k in kept}
        resolution = resolve_key([Candidate(k[1], k[0], k[2]) for k in kept], reversals)
        for candidate in resolution.reversed:
            result[(candidate.event_id, outcome)] = Treatment.REVERSED
        for candidate in resolution.duplicates:
            result[(candidate.event_id, outcome)] = Treatment.DEDUPLICATED
        return None if resolution.winner is None else by_id[resolution.winner.event_id]
