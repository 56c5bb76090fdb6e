"""A stored event's status: the best thing that became of its outcome rows."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa

from metering.ledger.states.columns import HasStatus, StatusColumns
from metering.ledger.states.names import EventStatus, OutcomeState

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
