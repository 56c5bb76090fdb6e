"""Every outcome and event state, what each means, and the rules that read them.

This module is the one place these rules are written. Each rule is a predicate with two
faces that a test keeps in agreement on SQLite and PostgreSQL: `sql(t, ...)`, a clause over a
table's columns (`Outcome.__table__.c`, or any selectable's with the same names), and
`holds(row, ...)`, the same test on a row in memory; `text` writes a clause out as SQL for
the two places that need text (a partial index, a query sent to the driver as it is).
Queries, pages and jobs ask here instead of comparing states themselves.

**How a dedupe key resolves.** The candidates of one (customer, outcome, period, dedupe key)
are decided by the pure core's `pricing_rules.outcomes.resolve_key`, whatever the order they
arrived in: a candidate is reversed when a reversal with its match key happened at or after
it; the earliest live one wins; the other live ones are duplicates. `key_states` turns that
decision into the stored `OutcomeState` of every candidate:

- `counted`: the key's winner, the one row billed for its key (a partial unique index keeps
  one per key);
- `credited`: the winner of a key an accepted dispute covers: taken back, never counted again;
- `problem`: a winner that could not be deduplicated or measured (its key or value was
  missing or unusable): shown, never billed;
- `reversed`: a reversal with its match key happened at or after it;
- `duplicate`: a live candidate after the winner;
- `voided`: its event was voided; it takes part in no key;
- `rejected`: a rejection (`settle.rejected_by`, a low survey score) with its match key
  happened at or after it: never billed (credited by the next close if it was invoiced);
- `awaiting_verification`: a verified outcome (`settle.confirmed_by`) whose confirmation has
  not come, with `otherwise: drop`: it takes part in its key only once confirmed in its
  window (`verify_by`), and never if not (the portal then shows it `unverified`). With
  `otherwise: count` an unconfirmed candidate is `counted` with a span that starts at the
  end of its window;
- `over_limit`: its key's winner, but counting it would take the customer's spend or the
  outcome's units for the period past a `block` limit (`limits.apply_limits`, run after the
  keys resolve): stored, never billed, counted again in timestamp order once a reversal,
  void or credit brings the period back under (its counted span is then the key's own);
- `superseded`: its key's billed winner, but its outcome is exclusive (`exclusive` in the
  plan) and a winner of an outcome earlier in `exclusive.order` is billed for the same
  subject (the same dedupe key): `group_states` resolves the keys of one subject together.

**Settling is a time, not a state.** A counted row settles at `settles_at` (when it occurred
plus the rule's `settle.after`). Nothing is rewritten when a row settles.

**Billing asks "as of an instant", and the state is "now".** `state` is what a row is given
everything stored. A close prices its period as of exactly its close instant, whenever it
runs, so what happened after that instant must not count yet: a reversal whose event is
timestamped later, an event voided later, a dispute accepted later (a void or an acceptance
happens when it is recorded; a reversal when its event says). Each row therefore also keeps
its **counted span** [`counted_from`, `counted_until`): the instants at which it is its key's
billed outcome (the winner, no problem, not credited), computed by `key_states` from every
candidate, reversal, void and credit of its key with their times, whatever order they were
stored in. `COUNTED_AT` is that test; `BILLABLE` is counted at `as_of` and settled by then,
`PENDING` counted and not settled: what a close bills, live figures and corrections count
(`SETTLED`: `settles_at <= as_of`). `STILL_COUNTING` are the rows a period's close reads,
and `CHANGES_AFTER` the ones whose billing changes after `as_of` (known now): their period
stays stale, so the next close corrects it. A counted row's span is open-ended; a credited
row's ends at the credit. A row that would count in two separate spans (a reversal whose
event is voided after it took effect; a superseded outcome that counted until a candidate of
higher precedence happened, then again once that one was reversed) keeps its latest one: an
earlier span ends before a later candidate of its period happened, and no close is as of such
an instant (a close's instant is after its period's end).

**Events.** A stored event's `EventStatus` is the best thing that became of its outcome rows
(`event_status`), else `reversal` or `unmatched`; `voided` once voided (`EVENT_VOIDED`).

**What the customer reads.** `DisplayStatus` is the portal's status of a row, decided by
`display_status` in memory and `display_clause` in SQL. It depends on what the ledger cannot
know (invoice lines and open disputes), which the caller passes as `Facts`.

A new outcome state is one entry in `OutcomeState`, its `InState` predicate, and its place in
`event_status` and in the display rules.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa

from pricing_rules.outcomes import (
    Candidate,
    ClaimKind,
    KeyResolution,
    Verification,
    exclusive_winner,
    resolve_key,
)

T = TypeVar("T")
Instant = datetime | sa.ColumnElement[Any]
"""An as-of time: a value, or a clause (a placeholder when a rule is written out as text)."""


class OutcomeState(StrEnum):
    """What an outcome row is for its dedupe key (see the module docstring)."""

    COUNTED = "counted"
    CREDITED = "credited"
    DUPLICATE = "duplicate"
    REVERSED = "reversed"
    VOIDED = "voided"
    PROBLEM = "problem"
    REJECTED = "rejected"
    AWAITING_VERIFICATION = "awaiting_verification"
    SUPERSEDED = "superseded"
    OVER_LIMIT = "over_limit"


class EventStatus(StrEnum):
    """What became of a stored event; every stored event has one."""

    COUNTED = "counted"
    CREDITED = "credited"
    DUPLICATE = "duplicate"
    # Reverses outcomes and is a candidate for none.
    REVERSAL = "reversal"
    # Confirms or rejects outcomes (`settle.confirmed_by`, `settle.rejected_by`).
    CONFIRMATION = "confirmation"
    REJECTION = "rejection"
    REVERSED = "reversed"
    # No outcome of its plan version, or no subscription at its time.
    UNMATCHED = "unmatched"
    PROBLEM = "problem"
    VOIDED = "voided"
    REJECTED = "rejected"
    AWAITING_VERIFICATION = "awaiting_verification"
    SUPERSEDED = "superseded"
    OVER_LIMIT = "over_limit"


class DisplayStatus(StrEnum):
    """What the customer reads in the portal's status column (`display_status`)."""

    # Counted, before its settle time.
    PENDING = "pending"
    # Counted and settled, on no invoice line yet.
    BILLABLE = "billable"
    # Counted and settled, on a live charge or adjustment line.
    BILLED = "billed"
    # Taken back: by an accepted dispute, or by a live credit line.
    CREDITED = "credited"
    REVERSED = "reversed"
    VOIDED = "voided"
    DUPLICATE = "duplicate"
    PROBLEM = "problem"
    # Counted, with an open dispute on its key.
    DISPUTED = "disputed"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"
    # Waiting for its confirmation, inside its window.
    AWAITING_VERIFICATION = "awaiting_verification"
    # Its window ended without a confirmation (`otherwise: drop`): never billed.
    UNVERIFIED = "unverified"
    # Past a `block` limit: stored, not billed, counted again if spend falls back under.
    OVER_LIMIT = "over_limit"


# --- what the rules read --------------------------------------------------------------------


class StateColumns(Protocol):
    @property
    def state(self) -> sa.ColumnElement[Any]: ...


class SettleColumns(Protocol):
    @property
    def settles_at(self) -> sa.ColumnElement[Any]: ...


class OutcomeColumns(StateColumns, SettleColumns, Protocol):
    """The columns of outcome rows: `Outcome.__table__.c` or a selectable's `.c`."""

    @property
    def counted_from(self) -> sa.ColumnElement[Any]: ...

    @property
    def counted_until(self) -> sa.ColumnElement[Any]: ...

    @property
    def verify_by(self) -> sa.ColumnElement[Any]: ...


class SpanColumns(SettleColumns, Protocol):
    """The columns that say when a row bills: its settle time and its counted span."""

    @property
    def counted_from(self) -> sa.ColumnElement[Any]: ...

    @property
    def counted_until(self) -> sa.ColumnElement[Any]: ...


class HasState(Protocol):
    @property
    def state(self) -> str: ...


class OutcomeRow(HasState, Protocol):
    """An outcome row in memory: an `Outcome`, a result row, anything with these fields."""

    @property
    def settles_at(self) -> datetime: ...

    @property
    def counted_from(self) -> datetime | None: ...

    @property
    def counted_until(self) -> datetime | None: ...

    @property
    def verify_by(self) -> datetime | None: ...


class SpanRow(Protocol):
    """A row's settle time and counted span in memory."""

    @property
    def settles_at(self) -> datetime: ...

    @property
    def counted_from(self) -> datetime | None: ...

    @property
    def counted_until(self) -> datetime | None: ...


class StatusColumns(Protocol):
    """The columns of stored events: `StoredEvent.__table__.c`."""

    @property
    def status(self) -> sa.ColumnElement[Any]: ...


class HasStatus(Protocol):
    @property
    def status(self) -> str: ...


class _Bare:
    """Unqualified column names, to write a rule out as SQL text."""

    state: sa.ColumnElement[Any] = sa.column("state")
    settles_at: sa.ColumnElement[Any] = sa.column("settles_at")
    counted_from: sa.ColumnElement[Any] = sa.column("counted_from")
    counted_until: sa.ColumnElement[Any] = sa.column("counted_until")
    verify_by: sa.ColumnElement[Any] = sa.column("verify_by")


def _text(clause: sa.ColumnElement[bool]) -> str:
    return str(clause.compile(compile_kwargs={"literal_binds": True}))


# --- outcome predicates ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InState:
    """Rows stored in `state`."""

    state: OutcomeState

    def sql(self, t: StateColumns) -> sa.ColumnElement[bool]:
        return t.state == self.state.value

    def holds(self, row: HasState) -> bool:
        return row.state == self.state

    def text(self) -> str:
        """The clause as SQL text over the bare column name (a partial index's WHERE)."""
        return _text(self.sql(_Bare()))


COUNTED = InState(OutcomeState.COUNTED)
CREDITED = InState(OutcomeState.CREDITED)
DUPLICATE = InState(OutcomeState.DUPLICATE)
REVERSED = InState(OutcomeState.REVERSED)
VOIDED = InState(OutcomeState.VOIDED)
PROBLEM = InState(OutcomeState.PROBLEM)
REJECTED = InState(OutcomeState.REJECTED)
AWAITING_VERIFICATION = InState(OutcomeState.AWAITING_VERIFICATION)
SUPERSEDED = InState(OutcomeState.SUPERSEDED)
OVER_LIMIT = InState(OutcomeState.OVER_LIMIT)
TALLIED = frozenset({OutcomeState.COUNTED, OutcomeState.OVER_LIMIT})
"""The states the running tallies keep (`metering.ledger.tallies`)."""


@dataclass(frozen=True, slots=True)
class Settled:
    """The settle time has come by `as_of`, inclusive: the time half of `BILLABLE`.

    In memory it takes the settle time itself, so the simulation, which has no rows, asks
    the same question of `occurred_at + settle.after`.
    """

    def sql(self, t: SettleColumns, as_of: Instant) -> sa.ColumnElement[bool]:
        return t.settles_at <= as_of

    def holds(self, settles_at: datetime, as_of: datetime) -> bool:
        return settles_at <= as_of


SETTLED = Settled()


def _after(column: sa.ColumnElement[Any], as_of: Instant) -> sa.ColumnElement[bool]:
    return sa.and_(column.is_not(None), column > as_of)


def _later(value: datetime | None, as_of: datetime) -> bool:
    return value is not None and value > as_of


def _by(value: datetime | None, as_of: datetime) -> bool:
    """It happened at or before `as_of`."""
    return value is not None and value <= as_of


@dataclass(frozen=True, slots=True)
class CountedAt:
    """The row is its key's billed outcome at `as_of`: inside its counted span."""

    def sql(self, t: SpanColumns, as_of: Instant) -> sa.ColumnElement[bool]:
        return sa.and_(
            t.counted_from.is_not(None),
            t.counted_from <= as_of,
            sa.or_(t.counted_until.is_(None), t.counted_until > as_of),
        )

    def holds(self, row: SpanRow, as_of: datetime) -> bool:
        start, end = row.counted_from, row.counted_until
        return start is not None and start <= as_of and (end is None or end > as_of)


COUNTED_AT = CountedAt()


@dataclass(frozen=True, slots=True)
class StillCounting:
    """Counted at `as_of` or from a later instant: the rows a close as of `as_of` reads."""

    def sql(self, t: SpanColumns, as_of: Instant) -> sa.ColumnElement[bool]:
        return sa.and_(
            t.counted_from.is_not(None),
            sa.or_(t.counted_until.is_(None), t.counted_until > as_of),
        )

    def holds(self, row: SpanRow, as_of: datetime) -> bool:
        end = row.counted_until
        return row.counted_from is not None and (end is None or end > as_of)


@dataclass(frozen=True, slots=True)
class ChangesAfter:
    """Its counted span starts or ends after `as_of`: known now, not yet as of `as_of`, so
    a period closed as of `as_of` with such a row needs a correction later."""

    def sql(self, t: SpanColumns, as_of: Instant) -> sa.ColumnElement[bool]:
        return sa.or_(_after(t.counted_from, as_of), _after(t.counted_until, as_of))

    def holds(self, row: SpanRow, as_of: datetime) -> bool:
        return _later(row.counted_from, as_of) or _later(row.counted_until, as_of)


STILL_COUNTING = StillCounting()
CHANGES_AFTER = ChangesAfter()


@dataclass(frozen=True, slots=True)
class Billable:
    """Counted at `as_of` and settled by then: what a close bills and live figures show."""

    def sql(self, t: SpanColumns, as_of: Instant) -> sa.ColumnElement[bool]:
        return sa.and_(COUNTED_AT.sql(t, as_of), SETTLED.sql(t, as_of))

    def holds(self, row: SpanRow, as_of: datetime) -> bool:
        return COUNTED_AT.holds(row, as_of) and SETTLED.holds(row.settles_at, as_of)

    def text(self, as_of: str) -> str:
        """The clause as SQL text over bare column names, `as_of` a driver placeholder
        (`%(as_of)s`, used more than once), for a query sent to the driver as it is."""
        return _text(self.sql(_Bare(), sa.literal_column(as_of)))


@dataclass(frozen=True, slots=True)
class Pending:
    """Counted at `as_of`, not settled by then: it bills once it settles, unless it stops
    counting first (reversed, voided, credited)."""

    def sql(self, t: SpanColumns, as_of: Instant) -> sa.ColumnElement[bool]:
        return sa.and_(COUNTED_AT.sql(t, as_of), sa.not_(SETTLED.sql(t, as_of)))

    def holds(self, row: SpanRow, as_of: datetime) -> bool:
        return COUNTED_AT.holds(row, as_of) and not SETTLED.holds(row.settles_at, as_of)


BILLABLE = Billable()
PENDING = Pending()


# --- how a key resolves ---------------------------------------------------------------------


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
            if c.occurred_at <= at and not _by(self.voided_at.get(c.event_id), at)
        ]
        last: dict[ClaimKind, dict[str, datetime]] = {
            ClaimKind.REVERSAL: {},
            ClaimKind.REJECTION: {},
        }
        confirmations: dict[str, list[datetime]] = {}
        for claim in self.reversals:
            if claim.occurred_at > at or _by(claim.voided_at, at):
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
        return resolution, _by(self.credited_at, at)

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


def group_states(keys: Sequence[KeyFacts]) -> list[list[KeyState]]:
    """`key_states` of the keys of one subject of exclusive outcomes, in `exclusive.order`:
    each key resolves on its own, then only the first key with a billed winner counts, at
    every instant (so a reversal, void or credit of that winner promotes the next one); the
    billed winners of the others are `superseded`. One key alone is plain `key_states`."""
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

_BEST_FIRST = (
    (OutcomeState.COUNTED, EventStatus.COUNTED),
    (OutcomeState.CREDITED, EventStatus.CREDITED),
    (OutcomeState.OVER_LIMIT, EventStatus.OVER_LIMIT),
    (OutcomeState.AWAITING_VERIFICATION, EventStatus.AWAITING_VERIFICATION),
    (OutcomeState.SUPERSEDED, EventStatus.SUPERSEDED),
    (OutcomeState.PROBLEM, EventStatus.PROBLEM),
    (OutcomeState.DUPLICATE, EventStatus.DUPLICATE),
    (OutcomeState.REJECTED, EventStatus.REJECTED),
    (OutcomeState.REVERSED, EventStatus.REVERSED),
)


def event_status(outcome_states: Collection[str], is_reversal: bool) -> EventStatus:
    """An event's status from its outcome rows' states: the best thing that became of it."""
    for state, status in _BEST_FIRST:
        if state in outcome_states:
            return status
    return EventStatus.REVERSAL if is_reversal else EventStatus.UNMATCHED


@dataclass(frozen=True, slots=True)
class EventIs:
    """Stored events whose status is `status`."""

    status: EventStatus

    def sql(self, t: StatusColumns) -> sa.ColumnElement[bool]:
        return t.status == self.status.value

    def holds(self, row: HasStatus) -> bool:
        return row.status == self.status


EVENT_VOIDED = EventIs(EventStatus.VOIDED)


# --- what the customer reads ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts(Generic[T]):
    """What decides a display status beyond the row itself: bools in memory, clauses in SQL.

    `disputed`: an open dispute names the row's key. `credited_line`: the invoice lines took
    the row back (a live credit line names it). `billed_line`: the invoice lines bill it (a
    live charge or adjustment line names it).
    """

    disputed: T
    credited_line: T
    billed_line: T


def _awaiting(row: OutcomeRow, as_of: datetime) -> bool:
    """Inside its confirmation window and not counted yet: waiting for its confirmation."""
    verify_by = row.verify_by
    return verify_by is not None and as_of < verify_by and not COUNTED_AT.holds(row, as_of)


def _awaiting_sql(t: OutcomeColumns, as_of: Instant) -> sa.ColumnElement[bool]:
    return sa.and_(t.verify_by.is_not(None), t.verify_by > as_of, sa.not_(COUNTED_AT.sql(t, as_of)))


def display_status(row: OutcomeRow, as_of: datetime, facts: Facts[bool]) -> DisplayStatus:
    """What the customer reads for `row` at `as_of`; the first rule that holds decides.

    A counted row with an open dispute is `disputed`; one taken back (credited state or a
    credit line) is `credited`; a verified outcome inside its window and not counted yet is
    `awaiting_verification`, and once its window ended unconfirmed, `unverified`; a counted
    row is `pending` until it settles, then `billed` when a line bills it, else `billable`;
    any other state shows as itself.
    """
    counted = COUNTED.holds(row)
    if counted and facts.disputed:
        return DisplayStatus.DISPUTED
    if CREDITED.holds(row) or facts.credited_line:
        return DisplayStatus.CREDITED
    waiting = AWAITING_VERIFICATION.holds(row)
    if (counted or waiting) and _awaiting(row, as_of):
        return DisplayStatus.AWAITING_VERIFICATION
    if waiting:
        return DisplayStatus.UNVERIFIED
    if counted:
        if not SETTLED.holds(row.settles_at, as_of):
            return DisplayStatus.PENDING
        return DisplayStatus.BILLED if facts.billed_line else DisplayStatus.BILLABLE
    return DisplayStatus(row.state)


def display_clause(
    status: DisplayStatus,
    t: OutcomeColumns,
    as_of: Instant,
    facts: Facts[sa.ColumnElement[bool]],
) -> sa.ColumnElement[bool]:
    """The rows `display_status` gives `status`: each row meets exactly one status's clause."""
    counted = COUNTED.sql(t)
    disputed = sa.and_(counted, facts.disputed)
    if status is DisplayStatus.DISPUTED:
        return disputed
    if status is DisplayStatus.CREDITED:
        return sa.or_(CREDITED.sql(t), sa.and_(facts.credited_line, sa.not_(disputed)))
    not_taken = (sa.not_(disputed), sa.not_(facts.credited_line))
    waiting = AWAITING_VERIFICATION.sql(t)
    awaiting = sa.and_(sa.or_(counted, waiting), _awaiting_sql(t, as_of))
    if status is DisplayStatus.AWAITING_VERIFICATION:
        return sa.and_(*not_taken, awaiting)
    if status is DisplayStatus.UNVERIFIED:
        return sa.and_(*not_taken, waiting, sa.not_(awaiting))
    if status in (DisplayStatus.PENDING, DisplayStatus.BILLED, DisplayStatus.BILLABLE):
        kept = (counted, sa.not_(facts.disputed), sa.not_(facts.credited_line), sa.not_(awaiting))
        settled = SETTLED.sql(t, as_of)
        if status is DisplayStatus.PENDING:
            return sa.and_(*kept, sa.not_(settled))
        if status is DisplayStatus.BILLED:
            return sa.and_(*kept, settled, facts.billed_line)
        return sa.and_(*kept, settled, sa.not_(facts.billed_line))
    return sa.and_(InState(OutcomeState(status.value)).sql(t), sa.not_(facts.credited_line))
