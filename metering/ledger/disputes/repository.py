"""Queries over disputes; the key of a dispute is the key of the outcome it names."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from metering.ledger.disputes.models import Dispute, DisputeStatus
from metering.platform.db import bulk

Key = tuple[str, str, datetime, str]  # customer_id, outcome, period_start, dedupe_key
CHUNK = 500


def key_of(dispute: Dispute) -> Key:
    return (dispute.customer_id, dispute.outcome, dispute.period_start, dispute.dedupe_key)


_ACCEPTED = (
    "SELECT customer_id, outcome, period_start, dedupe_key, COALESCE(resolved_at, created_at) "
    "FROM disputes WHERE customer_id = ANY(CAST(%s AS TEXT[])) "
    f"AND status = '{DisputeStatus.ACCEPTED.value}'"
)


def credits_of(session: Session, customer_ids: Collection[str]) -> dict[Key, datetime]:
    """When an accepted dispute first credited each key of these customers."""
    ordered = sorted(set(customer_ids))
    found: dict[Key, datetime] = {}
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(ordered), CHUNK):
        if postgres:  # by psycopg itself: every ingested batch asks, and rarely finds one
            chunk = bulk.array_text(ordered[start : start + CHUNK])
            for c, o, p, d, at in bulk.driver_rows(session, _ACCEPTED, chunk):
                key, accepted = (c, o, p.astimezone(UTC), d), at.astimezone(UTC)
                if key not in found or accepted < found[key]:
                    found[key] = accepted
            continue
        rows = session.exec(
            select(Dispute).where(
                bulk.text_in(session, col(Dispute.customer_id), ordered[start : start + CHUNK]),
                Dispute.status == DisputeStatus.ACCEPTED.value,
            )
        ).all()
        for row in rows:
            key, accepted = key_of(row), row.resolved_at or row.created_at
            if key not in found or accepted < found[key]:
                found[key] = accepted
    return found


def credited_at(session: Session, keys: Collection[Key]) -> dict[Key, datetime]:
    """When an accepted dispute first credited each of `keys` (those it covers)."""
    wanted = set(keys)
    found = credits_of(session, {key[0] for key in wanted}) if wanted else {}
    return {key: at for key, at in found.items() if key in wanted}


def open_dispute(session: Session, key: Key) -> Dispute | None:
    customer_id, outcome, period_start, dedupe_key = key
    return session.exec(
        select(Dispute).where(
            Dispute.customer_id == customer_id,
            Dispute.outcome == outcome,
            Dispute.period_start == period_start,
            Dispute.dedupe_key == dedupe_key,
            Dispute.status == DisputeStatus.OPEN.value,
        )
    ).first()


def listing(
    vendor_id: str, status: str | None = None, customer_id: str | None = None
) -> SelectOfScalar[Dispute]:
    statement = select(Dispute).where(Dispute.vendor_id == vendor_id)
    if status is not None:
        statement = statement.where(Dispute.status == status)
    if customer_id is not None:
        statement = statement.where(Dispute.customer_id == customer_id)
    return statement


def of_customer(session: Session, customer_id: str) -> Sequence[Dispute]:
    """A customer's disputes, newest first."""
    return session.exec(
        select(Dispute)
        .where(Dispute.customer_id == customer_id)
        .order_by(col(Dispute.created_at).desc(), col(Dispute.id).desc())
    ).all()


def lock(session: Session, dispute_id: str) -> Dispute | None:
    """The dispute, its row locked until commit (PostgreSQL), read fresh."""
    return session.exec(
        select(Dispute)
        .where(Dispute.id == dispute_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
