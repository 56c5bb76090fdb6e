"""Portal sessions: a single-use link per request, opened once into a cookie session.

Functions add and flush; the caller commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from metering.catalog.customers.models import Customer
from metering.platform.db.ids import new_id
from metering.surfaces.portal import repository
from metering.surfaces.portal.errors import PortalPageError
from metering.surfaces.portal.models import PortalSession


@dataclass(frozen=True)
class NewLink:
    """A made session and its token in clear (only in this response, stored hashed)."""

    row: PortalSession
    token: str


def create_link(
    session: Session,
    customer: Customer,
    return_url: str | None,
    now: datetime,
    lifetime: timedelta,
) -> NewLink:
    token = secrets.token_urlsafe(32)
    row = PortalSession(
        id=new_id("pts"),
        vendor_id=customer.vendor_id,
        customer_id=customer.id,
        token_hash=repository.hash_token(token),
        return_url=return_url,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    return NewLink(row=row, token=token)


def open_link(session: Session, token: str, now: datetime) -> PortalSession:
    """The session of `token`, now used; a 403/410 page saying why when it cannot open."""
    if repository.claim(session, token, now):
        row = repository.by_token(session, token)
        assert row is not None
        session.refresh(row)
        return row
    row = repository.by_token(session, token)
    if row is None:
        raise PortalPageError(
            403,
            "This link is not valid",
            "The sign-in link is incomplete or was not made for this portal. Open the billing "
            "portal again from your vendor's app to get a new link.",
        )
    if row.used_at is not None:
        raise PortalPageError(
            410,
            "This link has already been used",
            "Each sign-in link opens the portal once. Open the billing portal again from your "
            "vendor's app to get a new link.",
        )
    raise PortalPageError(
        410,
        "This link has expired",
        "Sign-in links work for a few minutes only. Open the billing portal again from your "
        "vendor's app to get a new link.",
    )


def end_session(session: Session, session_id: str, now: datetime) -> None:
    repository.end(session, session_id, now)
