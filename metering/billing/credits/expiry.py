"""At a grant's `expires_at`, what is left of it becomes an `expiry` entry.

A period overlapping the grant's validity is still paid by it at that period's close, even
when the close comes after `expires_at` (brief: "Credits, limits and commitments"). So a
grant expires only once none of its customer's subscriptions has an unclosed period
starting before `expires_at` (its cursor, `billed_through`, has reached `expires_at` or the
subscription's end). Idempotent (`expired_at` marks a grant done, under its row lock) and
right when it runs late: it takes what is left whenever it runs.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from metering.billing.credits import ledger
from metering.billing.credits.ledger import GRANTS, LockedGrant
from metering.billing.credits.models import GrantStatus
from metering.catalog.subscriptions.models import Subscription

BATCH_SIZE = 500


def _due(session: Session, now: datetime, limit: int, after: str) -> list[str]:
    statement = (
        sa.select(GRANTS.c.id)
        .where(
            GRANTS.c.status == GrantStatus.ACTIVE.value,
            GRANTS.c.expired_at.is_(None),
            GRANTS.c.expires_at <= now,
            GRANTS.c.id > after,
        )
        .order_by(GRANTS.c.id)
        .limit(limit)
    )
    return list(session.execute(statement).scalars())


def _open_from(session: Session, customer_ids: Collection[str]) -> dict[str, list[datetime]]:
    """Per customer, where each subscription with a period left to close stands."""
    s = Subscription
    cursor = sa.func.coalesce(col(s.billed_through), col(s.starts_at))
    statement = sa.select(col(s.customer_id), cursor).where(
        col(s.customer_id).in_(sorted(customer_ids)),
        sa.or_(col(s.ends_at).is_(None), cursor < col(s.ends_at)),
    )
    found: dict[str, list[datetime]] = {}
    for customer_id, start in session.execute(statement):
        found.setdefault(customer_id, []).append(start)
    return found


def _still_paying(grant: LockedGrant, open_from: list[datetime]) -> bool:
    """Whether a period starting before `expires_at` remains to be closed."""
    assert grant.expires_at is not None
    return any(start < grant.expires_at for start in open_from)


def expire_due(engine: Engine, now: datetime, batch_size: int = BATCH_SIZE) -> int:
    """Expire every grant past its `expires_at` whose periods are all closed; how many."""
    expired = 0
    after = ""
    while True:
        with Session(engine) as session:
            ids = _due(session, now, batch_size, after)
            if not ids:
                return expired
            after = ids[-1]
            locked = ledger.lock(session, ids)  # before reading the cursors: a close first
            open_from = _open_from(session, {g.customer_id for g in locked.values()})
            for grant in locked.values():
                if grant.expired_at is not None or grant.status != GrantStatus.ACTIVE.value:
                    continue
                if _still_paying(grant, open_from.get(grant.customer_id, [])):
                    continue
                ledger.expire(session, grant, now)
                expired += 1
            session.commit()
