"""The queries of the margin report: billed lines, and the two event streams costs need.

Every query covers one batch of customers sharing one period (the service batches them);
the event streams are read with `yield_per`, so a period of a million events is never in
memory at once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from metering.billing.invoices.models import Invoice, InvoiceKind, InvoiceLine, InvoiceStatus
from metering.ledger import states
from metering.ledger.events.models import StoredEvent
from metering.ledger.outcomes.models import Outcome
from pricing_rules.events import Event

STREAM_ROWS = 2000
OUTCOMES: sa.Table = Outcome.__table__  # type: ignore[attr-defined]
EVENTS: sa.Table = StoredEvent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class BilledLine:
    """A line of a non-void invoice pricing (or correcting) a customer's period."""

    customer_id: str
    invoice_id: str
    kind: str
    outcome: str | None
    amount: Decimal
    detail: dict[str, Any]


def invoiced(session: Session, customer_ids: Collection[str], period_start: datetime) -> set[str]:
    """The customers whose period starting at `period_start` has a non-void invoice."""
    statement = sa.select(col(Invoice.customer_id)).where(
        col(Invoice.customer_id).in_(sorted(customer_ids)),
        col(Invoice.period_start) == period_start,
        col(Invoice.kind) == InvoiceKind.PERIOD.value,
        col(Invoice.status) != InvoiceStatus.VOID.value,
    )
    return set(session.execute(statement).scalars())


def billed_lines(
    session: Session, customer_ids: Collection[str], period_start: datetime
) -> list[BilledLine]:
    """Every line of a non-void invoice that prices the period: its own invoice's lines and
    the credits and adjustments later invoices made for it (they name the same period)."""
    statement = (
        sa.select(
            col(InvoiceLine.customer_id),
            col(InvoiceLine.invoice_id),
            col(InvoiceLine.kind),
            col(InvoiceLine.outcome),
            col(InvoiceLine.amount),
            col(InvoiceLine.detail),
        )
        .join(Invoice, col(Invoice.id) == col(InvoiceLine.invoice_id))
        .where(
            col(InvoiceLine.customer_id).in_(sorted(customer_ids)),
            col(InvoiceLine.period_start) == period_start,
            col(Invoice.status) != InvoiceStatus.VOID.value,
        )
        .order_by(col(InvoiceLine.customer_id), col(Invoice.id), col(InvoiceLine.position))
    )
    return [BilledLine(*row) for row in session.execute(statement)]


_EVENT_COLUMNS = (
    col(StoredEvent.customer_id),
    col(StoredEvent.event_id),
    col(StoredEvent.type),
    col(StoredEvent.customer_external_id),
    col(StoredEvent.occurred_at),
    col(StoredEvent.properties),
    col(StoredEvent.cost),
)


def _event(row: Any) -> Event:
    return Event(
        id=row.event_id,
        type=row.type,
        customer=row.customer_external_id,
        timestamp=row.occurred_at,
        properties=row.properties or {},
        cost=row.cost,
    )


@dataclass(frozen=True, slots=True)
class CountedOutcome:
    """A counted outcome and the event that made it (to read its attribution key from)."""

    customer_id: str
    outcome: str
    event: Event
    dimension: str | None = None


def counted_outcomes(
    session: Session, customer_ids: Collection[str], period_start: datetime
) -> Iterator[CountedOutcome]:
    """The counted outcomes of the period, earliest first per customer (settled or not)."""
    statement = (
        sa.select(col(Outcome.outcome), col(Outcome.dimension), *_EVENT_COLUMNS)
        .join(StoredEvent, col(StoredEvent.pk) == col(Outcome.event_pk))
        .where(
            col(Outcome.customer_id).in_(sorted(customer_ids)),
            col(Outcome.period_start) == period_start,
            states.COUNTED.sql(OUTCOMES.c),
        )
        .order_by(
            col(Outcome.customer_id),
            col(Outcome.occurred_at),
            col(Outcome.event_id),
            col(Outcome.outcome),
        )
    )
    result = session.execute(statement.execution_options(yield_per=STREAM_ROWS))
    for row in result:
        yield CountedOutcome(row.customer_id, row.outcome, _event(row), row.dimension)


@dataclass(frozen=True, slots=True)
class CostEvent:
    """An event carrying a cost; `own_outcome` is the counted outcome it made, if any."""

    customer_id: str
    event: Event
    own_outcome: str | None
    own_dimension: str | None = None


def has_cost() -> sa.ColumnElement[bool]:
    """The event carries a cost: its JSON column is neither SQL NULL nor JSON `null` (what
    an event without a cost is stored as)."""
    return sa.and_(
        col(StoredEvent.cost).is_not(None), sa.cast(col(StoredEvent.cost), sa.Text) != "null"
    )


def own_outcomes(customer_ids: list[str], start: datetime, event: Any) -> sa.Select[Any]:
    """Per event (`event`: its pk or its id as the outcome rows name it), the counted outcome
    of the period starting at `start` it made itself (the first by name) and its value."""
    return (
        sa.select(
            event.label("event"),
            sa.func.min(col(Outcome.outcome)).label("outcome"),
            sa.func.min(col(Outcome.dimension)).label("dimension"),
        )
        .where(
            col(Outcome.customer_id).in_(customer_ids),
            col(Outcome.period_start) == start,
            states.COUNTED.sql(OUTCOMES.c),
        )
        .group_by(event)
    )


def cost_events(
    session: Session,
    vendor_id: str,
    customer_ids: Collection[str],
    start: datetime,
    end: datetime,
) -> Iterator[CostEvent]:
    """The events in [start, end) with a cost, voided ones left out, streamed; each with the
    counted outcome it made itself (the first by name if it counts for several), joined in
    one pass over the period's counted outcomes rather than looked up event by event."""
    ids = sorted(customer_ids)
    own = own_outcomes(ids, start, col(Outcome.event_pk)).subquery()
    statement = (
        sa.select(
            *_EVENT_COLUMNS,
            own.c.outcome.label("own_outcome"),
            own.c.dimension.label("own_dimension"),
        )
        .outerjoin(own, own.c.event == col(StoredEvent.pk))
        .where(
            col(StoredEvent.vendor_id) == vendor_id,
            col(StoredEvent.customer_id).in_(ids),
            col(StoredEvent.occurred_at) >= start,
            col(StoredEvent.occurred_at) < end,
            has_cost(),
            sa.not_(states.EVENT_VOIDED.sql(EVENTS.c)),
        )
    )
    result = session.execute(statement.execution_options(yield_per=STREAM_ROWS))
    for row in result:
        yield CostEvent(row.customer_id, _event(row), row.own_outcome, row.own_dimension)
