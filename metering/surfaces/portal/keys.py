"""The key that signs portal cookies (and any other signed cookie of the web pages).

METERING_PORTAL_SECRET_KEY when set; otherwise a random key made once and kept in table
`portal_keys`, so every process of `metering serve --workers N` (and a restart) signs and
reads the same cookies. The key is read once per app and cached on `app.state`.
"""

from __future__ import annotations

import secrets

from fastapi import Request
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.platform.db.types import utcnow
from metering.platform.settings import Settings
from metering.surfaces.portal.models import PortalKey

KEY_ID = "portal"


def stored_key(engine: Engine) -> str:
    """The database's signing key, made now if there is none (two makers: one wins)."""
    with Session(engine) as session:
        found = session.get(PortalKey, KEY_ID)
        if found is not None:
            return found.secret
        table = PortalKey.__table__  # type: ignore[attr-defined]
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        session.execute(
            insert.values(
                id=KEY_ID, secret=secrets.token_urlsafe(48), created_at=utcnow()
            ).on_conflict_do_nothing(index_elements=["id"])
        )
        session.commit()
        made = session.get(PortalKey, KEY_ID, populate_existing=True)
        assert made is not None
        return made.secret


def secret_key(request: Request) -> str:
    """The app's cookie signing key (settings first, else the stored one), cached."""
    cached: str | None = getattr(request.app.state, "portal_secret_key", None)
    if cached is not None:
        return cached
    settings: Settings = request.app.state.settings
    key = settings.portal_secret_key or stored_key(request.app.state.engine)
    request.app.state.portal_secret_key = key
    return key


def serializer(request: Request, salt: str) -> URLSafeTimedSerializer:
    """A signer of cookie payloads; `salt` keeps one cookie kind from passing as another."""
    return URLSafeTimedSerializer(secret_key(request), salt=salt)
