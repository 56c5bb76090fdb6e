"""The portal's status of an outcome row, in memory and in SQL, from what the ledger cannot
know (invoice lines, open disputes) passed in as `Facts`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic

import sqlalchemy as sa

from metering.ledger.states.columns import Instant, OutcomeColumns, OutcomeRow, T
from metering.ledger.states.names import DisplayStatus, OutcomeState
from metering.ledger.states.predicates import (
    AWAITING_VERIFICATION,
    COUNTED,
    COUNTED_AT,
    CREDITED,
    SETTLED,
    InState,
)


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
