"""What each open dispute has at stake: what its outcome adds to the bill now.

A dispute names its outcome's key; the row billed for that key now (its `counted` winner) is
what acceptance would take off, priced as the outcome list prices it
(`metering.billing.invoices.added`). A closed dispute has nothing at stake any more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.invoices.added import added_by_rows
from metering.catalog.plans.compiled import rules_of
from metering.ledger import states
from metering.ledger.disputes.models import Dispute, DisputeStatus
from metering.ledger.disputes.repository import key_of
from metering.ledger.outcomes.models import Outcome

OUTCOMES: sa.Table = Outcome.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class AtStake:
    amount: Decimal | None
    """None: the outcome is not priced on its own (a max, latest or unique measure)."""
    currency: str


def at_stake(session: Session, disputes: Sequence[Dispute]) -> dict[str, AtStake]:
    """Open dispute id -> what its outcome adds to the bill now."""
    opened = [d for d in disputes if d.status == DisputeStatus.OPEN.value]
    if not opened:
        return {}
    t = OUTCOMES.c
    keys = sa.tuple_(t.customer_id, t.outcome, t.period_start, t.dedupe_key)
    wanted = [key_of(d) for d in opened]
    rows = session.execute(sa.select(OUTCOMES).where(keys.in_(wanted), states.COUNTED.sql(t))).all()
    by_key = {(r.customer_id, r.outcome, r.period_start, r.dedupe_key): r for r in rows}
    added = added_by_rows(session, rows)
    found = {}
    for dispute in opened:
        row = by_key.get(
            (dispute.customer_id, dispute.outcome, dispute.period_start, dispute.dedupe_key)
        )
        if row is None:
            continue
        currency = rules_of(session, row.plan_version_id).currency
        found[dispute.id] = AtStake(added.get(row.id), currency)
    return found
