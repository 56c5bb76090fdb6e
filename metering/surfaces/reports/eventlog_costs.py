"""Where a margin report reads a vendor's cost events: the SQL store, or the ClickHouse event
log for a vendor that enabled it (its cost-only events are stored only there).

From the event log, each cost event comes with the counted outcome it made itself (read from
the outcome rows, which stay in the SQL store) and voided events are left out (voids stay
there too), so both paths give the report the same events and so the same numbers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from metering.ledger import states
from metering.ledger.eventlog.clickhouse import ClickHouseLog
from metering.ledger.eventlog.config import eventlog_of
from metering.ledger.eventlog.record import EventRecord
from metering.ledger.events.models import StoredEvent
from metering.ledger.outcomes.models import Outcome
from metering.platform.db import jsontext
from metering.surfaces.reports import repository
from metering.surfaces.reports.repository import EVENTS, CostEvent
from pricing_rules.events import Event


def cost_events(
    session: Session,
    vendor_id: str,
    customer_ids: Collection[str],
    start: datetime,
    end: datetime,
) -> Iterator[CostEvent]:
    """The period's events with a cost (as `repository.cost_events`), from the vendor's store."""
    log = eventlog_of(session, vendor_id)
    if log is None:
        return repository.cost_events(session, vendor_id, customer_ids, start, end)
    return _from_log(session, log, vendor_id, customer_ids, start, end)


def _from_log(
    session: Session,
    log: ClickHouseLog,
    vendor_id: str,
    customer_ids: Collection[str],
    start: datetime,
    end: datetime,
) -> Iterator[CostEvent]:
    ids = sorted(customer_ids)
    own = {
        row.event: (row.outcome, row.dimension)
        for row in session.execute(repository.own_outcomes(ids, start, col(Outcome.event_id)))
    }
    voided = set(
        session.execute(
            sa.select(col(StoredEvent.event_id)).where(
                col(StoredEvent.vendor_id) == vendor_id,
                col(StoredEvent.customer_id).in_(ids),
                col(StoredEvent.occurred_at) >= start,
                col(StoredEvent.occurred_at) < end,
                states.EVENT_VOIDED.sql(EVENTS.c),
            )
        ).scalars()
    )
    for record in log.stream(vendor_id, ids, start, end):
        if record.event_id in voided:
            continue
        outcome, dimension = own.get(record.event_id, (None, None))
        yield CostEvent(record.customer_id, _event(record), outcome, dimension)


def _event(record: EventRecord) -> Event:
    return Event(
        id=record.event_id,
        type=record.type,
        customer=record.customer_external_id,
        timestamp=record.occurred_at,
        properties=jsontext.loads(record.properties),
        cost=None if record.cost is None else jsontext.loads(record.cost),
    )
