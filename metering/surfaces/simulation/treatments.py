"""What one rule file makes of each event, outcome by outcome: the per-event side of a backtest.

`OutcomeLedger` prices a period but keeps only what pricing needs (one entry per dedupe key,
duplicates counted, not named). A simulation also shows *which* events change treatment, so
this tracker follows one customer's period with the same core steps storage runs: the
compiled `where` of each outcome, its dedupe and match keys (`evaluate`), the reversals,
and `resolve_key` per dedupe key (only for keys with several candidates or a reversal, as
in the ledger), with rejections and confirmations as the ledger reads them; the winners of
exclusive outcomes are then decided per subject by precedence (the others `superseded`), and
the winner's treatment follows the ledger's own rules, `winner_state` and `SETTLED`
(`metering.ledger.states`). Memory: one small tuple per candidate event of the
period.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from metering.ledger import states
from metering.ledger.states import OutcomeState
from pricing_rules.events import Event
from pricing_rules.outcomes import Candidate, ClaimKind, CompiledPlan, resolve_key
from pricing_rules.periods import Period


class Treatment(StrEnum):
    """What became of an event for one outcome (the stored states, plus why it is none)."""

    COUNTED = "counted"
    PENDING = "pending"
    PROBLEM = "problem"
    DEDUPLICATED = "deduplicated"
    REVERSED = "reversed"
    REJECTED = "rejected"
    AWAITING_VERIFICATION = "awaiting verification"
    SUPERSEDED = "superseded"
    OVER_LIMIT = "over limit"
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
        self._last_rejection: dict[str, dict[str, datetime]] = {}
        self._confirmations: dict[str, dict[str, list[datetime]]] = {}

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
                    if hit.kind is ClaimKind.CONFIRMATION:
                        times = self._confirmations.setdefault(hit.outcome, {})
                        times.setdefault(hit.match_key, []).append(ts)
                        continue
                    claims = (
                        self._last_reversal
                        if hit.kind is ClaimKind.REVERSAL
                        else self._last_rejection
                    )
                    latest = claims.setdefault(hit.outcome, {})
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
        rank = {name: index for index, name in enumerate(self.plan.exclusive_order)}
        winner_state = states.winner_state
        subjects: dict[str, list[tuple[int, str, _Kept]]] = {}
        for gkey, first in self._single.items():
            outcome = gkey[0]
            reversals = self._last_reversal.get(outcome, {})
            rejections = self._last_rejection.get(outcome, {})
            several = self._several.get(gkey)
            if (
                several is None
                and first[2] not in reversals
                and first[2] not in rejections
                and outcome not in self.plan.verification
            ):
                winner: _Kept | None = first  # alone and never claimed: no contest
            else:
                winner = self._contest(outcome, several or [first], result)
            if winner is None:
                continue
            occurred_at, event_id, _, problem = winner
            if winner_state(problem, False) is OutcomeState.PROBLEM:
                result[(event_id, outcome)] = Treatment.PROBLEM
                continue
            if outcome in rank:
                subjects.setdefault(gkey[1], []).append((rank[outcome], outcome, winner))
                continue
            result[(event_id, outcome)] = self._counted(occurred_at, settle_after[outcome])
        for contenders in subjects.values():
            contenders.sort()
            _, outcome, (occurred_at, event_id, _, _) = contenders[0]
            result[(event_id, outcome)] = self._counted(occurred_at, settle_after[outcome])
            for _, lost, kept in contenders[1:]:
                result[(kept[1], lost)] = Treatment.SUPERSEDED
        return result

    def _counted(self, occurred_at: datetime, settle_after: timedelta) -> Treatment:
        """A billed winner: pending until it settles (`SETTLED`), then counted."""
        if not states.SETTLED.holds(occurred_at + settle_after, self.as_of):
            return Treatment.PENDING
        return Treatment.COUNTED

    def _contest(
        self, outcome: str, kept: list[_Kept], result: dict[TreatmentKey, Treatment]
    ) -> _Kept | None:
        """`resolve_key` over one key's candidates; records the losers, returns the winner."""
        by_id = {k[1]: k for k in kept}
        awaiting: set[str] = set()
        verification = self.plan.verification.get(outcome)
        if verification is not None:
            confirmations = self._confirmations.get(outcome, {})
            for ts, event_id, match_key, _ in kept:
                counts_from = verification.counts_from(ts, confirmations.get(match_key or "", ()))
                if counts_from is None or counts_from > self.as_of:
                    awaiting.add(event_id)
        resolution = resolve_key(
            [Candidate(k[1], k[0], k[2]) for k in kept],
            self._last_reversal.get(outcome, {}),
            self._last_rejection.get(outcome, {}),
            awaiting,
        )
        for found, treatment in (
            (resolution.reversed, Treatment.REVERSED),
            (resolution.rejected, Treatment.REJECTED),
            (resolution.awaiting, Treatment.AWAITING_VERIFICATION),
            (resolution.duplicates, Treatment.DEDUPLICATED),
        ):
            for candidate in found:
                result[(candidate.event_id, outcome)] = treatment
        return None if resolution.winner is None else by_id[resolution.winner.event_id]
