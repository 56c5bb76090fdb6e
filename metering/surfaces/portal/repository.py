"""Portal session rows: made hashed, consumed once with a conditional UPDATE."""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from metering.surfaces.portal.models import PortalSession


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def by_token(session: Session, token: str) -> PortalSession | None:
    statement = select(PortalSession).where(PortalSession.token_hash == hash_token(token))
    return session.exec(statement).first()


def claim(session: Session, token: str, now: datetime) -> bool:
    """Mark the token's session used if it is unused and unexpired; whether this call did.

    One UPDATE with the conditions in its WHERE: of two concurrent opens, the database lets
    exactly one change the row.
    """
    result = session.execute(
        sa.update(PortalSession)
        .where(
            col(PortalSession.token_hash) == hash_token(token),
            col(PortalSession.used_at).is_(None),
            col(PortalSession.expires_at) > now,
        )
        .values(used_at=now)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def end(session: Session, session_id: str, now: datetime) -> None:
    session.execute(
        sa.update(PortalSession)
        .where(col(PortalSession.id) == session_id, col(PortalSession.ended_at).is_(None))
        .values(ended_at=now)
    )
