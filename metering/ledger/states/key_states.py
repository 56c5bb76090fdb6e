"""How the candidates of one dedupe key (and the keys of one exclusive subject) become stored
states and counted spans, from every fact of the key whatever order it was stored in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from metering.ledger.states.names import OutcomeState
from metering.ledger.states.predicates import happened_by
from pricing_rules.outcomes import (
    Candidate,
    ClaimKind,
    KeyResolution,
    Verification,
    exclusive_winner,
    resolve_key,
)


def winner_state(problem: str | None, credited: bool) -> OutcomeState:
    """The state of a key's winner: `problem` when it carries one, `credited` when an
    accepted dispute covers its key, else `counted`."""
    if problem:
        return OutcomeState.PROBLEM
    return OutcomeState.CREDITED if credited else OutcomeState.COUNTED


@dataclass(frozen=True, slots=True)
class Reversal:
    """A claim on one match key, a reversal unless `kind` says otherwise: from `occurred_at`
    (its event's time) on, a reversal or a rejection cancels the candidates at or before
    that time, and a confirmation confirms those whose window holds it; until its event is
    voided (`voided_at`), if ever."""

    match_key: str
    occurred_at: datetime
    voided_at: datetime | None = None
    kind: ClaimKind = ClaimKind.REVERSAL


@dataclass(frozen=True, slots=True)
class KeyState:
    """A candidate's state now and its counted span (`counted_from` None: never billed)."""

    candidate: Candidate
    state: OutcomeState
    counted_from: datetime | None = None
    counted_until: datetime | None = None


_BEFORE_ALL = datetime.min.replace(tzinfo=UTC)
_AFTER_ALL = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class KeyFacts:
    """Everything one key's resolution reads, each fact with the instant it takes effect:
    its candidates (`problem` rides on the candidate), the claims on their match keys
    (reversals, rejections, confirmations), when an accepted dispute credited the key,
    when candidates' events were voided (by event id), and its outcome's verification."""

    candidates: Sequence[Candidate]
    reversals: Sequence[Reversal] = ()
    credited_at: datetime | None = None
    voided_at: Mapping[str, datetime] = field(default_factory=dict)
    verification: Verification | None = None

    def resolve(self, at: datetime) -> tuple[KeyResolution, bool]:
        """`resolve_key` over what had happened by `at`, and whether the key was credited."""
        live = [
            c
            for c in self.candidates
            if c.occurred_at <= at and not happened_by(self.voided_at.get(c.event_id), at)
        ]
        last: dict[ClaimKind, dict[str, datetime]] = {
            ClaimKind.REVERSAL: {},
            ClaimKind.REJECTION: {},
        }
        confirmations: dict[str, list[datetime]] = {}
        for claim in self.reversals:
            if claim.occurred_at > at or happened_by(claim.voided_at, at):
                continue
            if claim.kind is ClaimKind.CONFIRMATION:
                confirmations.setdefault(claim.match_key, []).append(claim.occurred_at)
                continue
            latest = last[claim.kind]
            seen = latest.get(claim.match_key)
            if seen is None or claim.occurred_at > seen:
                latest[claim.match_key] = claim.occurred_at
        awaiting: set[str] = set()
        verification = self.verification
        if verification is not None:
            for candidate in live:
                times = confirmations.get(candidate.match_key or "", ())
                counts_from = verification.counts_from(candidate.occurred_at, times)
                if counts_from is None or counts_from > at:
                    awaiting.add(candidate.event_id)
        resolution = resolve_key(
            live, last[ClaimKind.REVERSAL], last[ClaimKind.REJECTION], awaiting
        )
        return resolution, happened_by(self.credited_at, at)

    def billed(self, at: datetime) -> Candidate | None:
        """The candidate billed for the key at `at` (none when credited or a problem)."""
        resolution, credited = self.resolve(at)
        winner = resolution.winner
        return None if winner is None or winner.problem or credited else winner

    def instants(self) -> set[datetime]:
        """The instants at which what the key bills may change."""
        found = {c.occurred_at for c in self.candidates}
        found |= {r.occurred_at for r in self.reversals}
        found |= {r.voided_at for r in self.reversals if r.voided_at is not None}
        found |= set(self.voided_at.values())
        if self.credited_at is not None:
            found.add(self.credited_at)
        verification = self.verification
        if verification is not None and verification.count_unconfirmed:
            found |= {c.occurred_at + verification.within for c in self.candidates}
        return found

    @property
    def static(self) -> bool:
        """Nothing takes effect after its candidates (the common case): the winner bills
        from its time on."""
        return (
            not self.reversals
            and not self.voided_at
            and self.credited_at is None
            and (self.verification is None)
        )


_Billed = tuple[int, Candidate] | None
"""The key (its index in the group) and candidate billed at an instant."""


def _group_billed(keys: Sequence[KeyFacts], at: datetime) -> _Billed:
    billed = [key.billed(at) for key in keys]
    index = exclusive_winner(billed)
    if index is None:
        return None
    candidate = billed[index]
    assert candidate is not None
    return index, candidate


def _spans(keys: Sequence[KeyFacts]) -> dict[str, tuple[datetime, datetime | None]]:
    """Each candidate's latest counted span: the group is billed the same way between two
    instants at which a fact takes effect, so evaluating it at each of them is exact."""
    instants: set[datetime] = set()
    for key in keys:
        instants |= key.instants()
    occurred = {c.event_id: c.occurred_at for key in keys for c in key.candidates}
    spans: dict[str, tuple[datetime, datetime | None]] = {}
    current: _Billed = None
    since = _BEFORE_ALL

    def close(until: datetime | None) -> None:
        if current is not None:
            event_id = current[1].event_id
            start = max(since, occurred[event_id])
            if until is None or start < until:
                spans[event_id] = (start, until)

    for at in (_BEFORE_ALL, *sorted(instants)):
        billed = _group_billed(keys, at)
        if billed != current:
            close(at)
            current, since = billed, at
    close(None)
    return spans


def key_states(
    candidates: Sequence[Candidate],
    reversals: Sequence[Reversal] = (),
    credited_at: datetime | None = None,
    voided_at: Mapping[str, datetime] | None = None,
    verification: Verification | None = None,
) -> list[KeyState]:
    """The state now and the counted span of every candidate of one dedupe key, winner
    first: `resolve_key` decides over what is stored (`problem` rides on the candidate;
    `credited_at`: when an accepted dispute credited the key; `voided_at`: when candidates'
    events were voided, by event id), and again at each instant a fact takes effect."""
    facts = KeyFacts(candidates, reversals, credited_at, voided_at or {}, verification)
    return group_states([facts])[0]


def lone_state(candidate: Candidate) -> KeyState:
    """The common case, said directly: the one candidate of a key with no fact after it
    (`KeyFacts.static`), alone in its subject, wins its key, counted from its time on
    unless it carries a problem."""
    if candidate.problem:
        return KeyState(candidate, OutcomeState.PROBLEM)
    return KeyState(candidate, OutcomeState.COUNTED, candidate.occurred_at, None)


def group_states(keys: Sequence[KeyFacts]) -> list[list[KeyState]]:
    """`key_states` of the keys of one subject of exclusive outcomes, in `exclusive.order`:
    each key resolves on its own, then only the first key with a billed winner counts, at
    every instant (so a reversal, void or credit of that winner promotes the next one); the
    billed winners of the others are `superseded`. One key alone is plain `key_states`."""
    if len(keys) == 1 and len(keys[0].candidates) == 1 and keys[0].static:
        return [[lone_state(keys[0].candidates[0])]]
    resolved = [key.resolve(_AFTER_ALL) for key in keys]
    billed_now = [
        None if winner is None or winner.problem or credited else winner
        for winner, credited in ((r.winner, credited) for r, credited in resolved)
    ]
    counting = exclusive_winner(billed_now)
    spans: dict[str, tuple[datetime, datetime | None]]
    if len(keys) == 1 and keys[0].static:
        winner = resolved[0][0].winner
        spans = (
            {}
            if winner is None or winner.problem
            else {winner.event_id: (winner.occurred_at, None)}
        )
    else:
        spans = _spans(keys)

    def state(candidate: Candidate, kind: OutcomeState) -> KeyState:
        span = spans.get(candidate.event_id)
        return KeyState(candidate, kind, *(span or (None, None)))

    found: list[list[KeyState]] = []
    for index, (key, (resolution, credited)) in enumerate(zip(keys, resolved, strict=True)):
        states: list[KeyState] = []
        winner = resolution.winner
        if winner is not None:
            kind = winner_state(winner.problem, credited)
            if kind is OutcomeState.COUNTED and index != counting:
                kind = OutcomeState.SUPERSEDED
            states.append(state(winner, kind))
        states += [state(c, OutcomeState.REVERSED) for c in resolution.reversed]
        states += [state(c, OutcomeState.REJECTED) for c in resolution.rejected]
        states += [state(c, OutcomeState.AWAITING_VERIFICATION) for c in resolution.awaiting]
        states += [state(c, OutcomeState.DUPLICATE) for c in resolution.duplicates]
        states += [
            state(c, OutcomeState.VOIDED) for c in key.candidates if c.event_id in key.voided_at
        ]
        found.append(states)
    return found


# --- events ---------------------------------------------------------------------------------
