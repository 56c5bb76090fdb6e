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
- `voided`: its event was voided; it takes part in no key.

**Settling is a time, not a state.** A counted row settles at `settles_at` (when it occurred
plus the rule's `settle.after`). It is `PENDING` while `settles_at > as_of` and `BILLABLE` from
that instant on (`SETTLED`: `settles_at <= as_of`): what a close bills, what live figures and
corrections count. Nothing is rewritten when a row settles. Credited rows are not counted, so
they are never billable.

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
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa

from pricing_rules.outcomes import Candidate, resolve_key

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


class EventStatus(StrEnum):
    """What became of a stored event; every stored event has one."""

    COUNTED = "counted"
    CREDITED = "credited"
    DUPLICATE = "duplicate"
    # Reverses outcomes and is a candidate for none.
    REVERSAL = "reversal"
    REVERSED = "reversed"
    # No outcome of its plan version, or no subscription at its time.
    UNMATCHED = "unmatched"
    PROBLEM = "problem"
    VOIDED = "voided"


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


# --- what the rules read --------------------------------------------------------------------


class StateColumns(Protocol):
    @property
    def state(self) -> sa.ColumnElement[Any]: ...


class OutcomeColumns(StateColumns, Protocol):
    """The columns of outcome rows: `Outcome.__table__.c` or a selectable's `.c`."""

    @property
    def settles_at(self) -> sa.ColumnElement[Any]: ...


class HasState(Protocol):
    @property
    def state(self) -> str: ...


class OutcomeRow(HasState, Protocol):
    """An outcome row in memory: an `Outcome`, a result row, anything with these fields."""

    @property
    def settles_at(self) -> datetime: ...


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


@dataclass(frozen=True, slots=True)
class Settled:
    """The settle time has come by `as_of`, inclusive: the time half of `BILLABLE`.

    In memory it takes the settle time itself, so the simulation, which has no rows, asks
    the same question of `occurred_at + settle.after`.
    """

    def sql(self, t: OutcomeColumns, as_of: Instant) -> sa.ColumnElement[bool]:
        return t.settles_at <= as_of

    def holds(self, settles_at: datetime, as_of: datetime) -> bool:
        return settles_at <= as_of


SETTLED = Settled()


@dataclass(frozen=True, slots=True)
class Billable:
    """Counted and settled by `as_of`: what a close bills and live figures show."""

    def sql(self, t: OutcomeColumns, as_of: Instant) -> sa.ColumnElement[bool]:
        return sa.and_(COUNTED.sql(t), SETTLED.sql(t, as_of))

    def holds(self, row: OutcomeRow, as_of: datetime) -> bool:
        return COUNTED.holds(row) and SETTLED.holds(row.settles_at, as_of)

    def text(self, as_of: str) -> str:
        """The clause as SQL text over bare column names, `as_of` a driver placeholder
        (`%s`), for a query sent to the driver as it is."""
        return _text(self.sql(_Bare(), sa.literal_column(as_of)))


@dataclass(frozen=True, slots=True)
class Pending:
    """Counted, not settled by `as_of`: it bills once it settles, unless reversed first."""

    def sql(self, t: OutcomeColumns, as_of: Instant) -> sa.ColumnElement[bool]:
        return sa.and_(COUNTED.sql(t), sa.not_(SETTLED.sql(t, as_of)))

    def holds(self, row: OutcomeRow, as_of: datetime) -> bool:
        return COUNTED.holds(row) and not SETTLED.holds(row.settles_at, as_of)


BILLABLE = Billable()
PENDING = Pending()


# --- how a key resolves ---------------------------------------------------------------------


def winner_state(problem: str | None, credited: bool) -> OutcomeState:
    """The state of a key's winner: `problem` when it carries one, `credited` when an
    accepted dispute covers its key, else `counted`."""
    if problem:
        return OutcomeState.PROBLEM
    return OutcomeState.CREDITED if credited else OutcomeState.COUNTED


def key_states(
    candidates: Sequence[Candidate], last_reversal: Mapping[str, datetime], credited: bool
) -> list[tuple[Candidate, OutcomeState]]:
    """The state of every candidate of one dedupe key (`resolve_key` decides; `problem`
    rides on the candidate; `credited`: an accepted dispute covers the key), winner first."""
    resolution = resolve_key(candidates, last_reversal)
    states: list[tuple[Candidate, OutcomeState]] = []
    if resolution.winner is not None:
        states.append((resolution.winner, winner_state(resolution.winner.problem, credited)))
    states += [(candidate, OutcomeState.REVERSED) for candidate in resolution.reversed]
    states += [(candidate, OutcomeState.DUPLICATE) for candidate in resolution.duplicates]
    return states


# --- events ---------------------------------------------------------------------------------

_BEST_FIRST = (
    (OutcomeState.COUNTED, EventStatus.COUNTED),
    (OutcomeState.CREDITED, EventStatus.CREDITED),
    (OutcomeState.PROBLEM, EventStatus.PROBLEM),
    (OutcomeState.DUPLICATE, EventStatus.DUPLICATE),
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


def display_status(row: OutcomeRow, as_of: datetime, facts: Facts[bool]) -> DisplayStatus:
    """What the customer reads for `row` at `as_of`; the first rule that holds decides.

    A counted row with an open dispute is `disputed`; one taken back (credited state or a
    credit line) is `credited`; a counted row is `pending` until it settles, then `billed`
    when a line bills it, else `billable`; any other state shows as itself.
    """
    counted = COUNTED.holds(row)
    if counted and facts.disputed:
        return DisplayStatus.DISPUTED
    if CREDITED.holds(row) or facts.credited_line:
        return DisplayStatus.CREDITED
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
    if status in (DisplayStatus.PENDING, DisplayStatus.BILLED, DisplayStatus.BILLABLE):
        kept = (counted, sa.not_(facts.disputed), sa.not_(facts.credited_line))
        settled = SETTLED.sql(t, as_of)
        if status is DisplayStatus.PENDING:
            return sa.and_(*kept, sa.not_(settled))
        if status is DisplayStatus.BILLED:
            return sa.and_(*kept, settled, facts.billed_line)
        return sa.and_(*kept, settled, sa.not_(facts.billed_line))
    return sa.and_(InState(OutcomeState(status.value)).sql(t), sa.not_(facts.credited_line))
