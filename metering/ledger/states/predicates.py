"""The outcome predicates, each with an SQL face (`sql`) and an in-memory face (`holds`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from metering.ledger.states.columns import (
    BareColumns,
    HasState,
    Instant,
    SettleColumns,
    SpanColumns,
    SpanRow,
    StateColumns,
    sql_text,
)
from metering.ledger.states.names import OutcomeState

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
        return sql_text(self.sql(BareColumns()))


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


def happened_by(value: datetime | None, as_of: datetime) -> bool:
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
        return sql_text(self.sql(BareColumns(), sa.literal_column(as_of)))


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
