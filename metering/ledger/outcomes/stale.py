"""Marking closed periods whose outcomes changed, so the next close bills the difference.

Whoever changes outcome rows of a period that has ended (a late event, a reversal or a void
after the close, outcomes still pending at the close) marks it here. The customer's next
close re-rates the period and deletes the mark only at the generation it read first: a
change committed while that close ran bumps the generation and keeps the mark.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from metering.ledger.outcomes.models import StalePeriod
from metering.platform.db.members import one_of
from metering.platform.db.types import utcnow


def mark_stale(session: Session, marks: Iterable[tuple[str, str, datetime]]) -> None:
    """Mark each (vendor_id, customer_id, period_start), bumping marks that already exist."""
    now = utcnow()
    rows = [
        {"vendor_id": v, "customer_id": c, "period_start": p, "generation": 1, "marked_at": now}
        for v, c, p in sorted(set(marks), key=lambda mark: (mark[1], mark[2]))
    ]
    if not rows:
        return
    table = StalePeriod.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    statement = insert.on_conflict_do_update(
        index_elements=["customer_id", "period_start"],
        set_={"generation": table.c.generation + 1, "marked_at": insert.excluded.marked_at},
    )
    session.execute(statement, rows)


def clear_stale(
    session: Session, customer_id: str, period_start: datetime, generation: int
) -> None:
    """Delete a mark if nobody marked it again since it was read at `generation`."""
    session.execute(
        sa.delete(StalePeriod).where(
            StalePeriod.customer_id == customer_id,  # type: ignore[arg-type]
            StalePeriod.period_start == period_start,  # type: ignore[arg-type]
            StalePeriod.generation == generation,  # type: ignore[arg-type]
        )
    )


def stale_marks(session: Session, customer_ids: Collection[str]) -> dict[tuple[str, datetime], int]:
    """(customer id, period start) -> generation of every mark of the customers."""
    if not customer_ids:
        return {}
    rows = session.exec(
        select(StalePeriod).where(one_of(col(StalePeriod.customer_id), sorted(customer_ids)))
    ).all()
    return {(row.customer_id, row.period_start): row.generation for row in rows}
