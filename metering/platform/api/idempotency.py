"""Requests that create money (a credit grant, a purchase, a manual adjustment) carry a
required `Idempotency-Key`: a client that lost the answer sends the same request again and
gets the same object back, never a second one. The same key with another body is refused, as
Stripe refuses it, so a key cannot silently stand for two different requests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import Header
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from metering.platform.api import problems
from metering.platform.db.types import UTCDateTime, utcnow

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Required. A key of your own for this request (a UUID is best): sending "
        "the same request again with the same key returns what the first one made instead "
        "of making it twice. Keys are kept per vendor and route, without expiry.",
    ),
]


class IdempotentRequest(SQLModel, table=True):
    """What a request with an idempotency key made, so a repeat returns it."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (
        sa.UniqueConstraint("vendor_id", "route", "key", name="uq_idempotent_requests_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    route: str = Field(max_length=200)
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    resource_id: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _fingerprint(route: str, body: BaseModel) -> str:
    return hashlib.sha256(f"{route}\n{body.model_dump_json()}".encode()).hexdigest()


def _made(session: Session, vendor_id: str, route: str, key: str, digest: str) -> str | None:
    found = session.exec(
        select(IdempotentRequest).where(
            IdempotentRequest.vendor_id == vendor_id,
            IdempotentRequest.route == route,
            IdempotentRequest.key == key,
        )
    ).first()
    if found is None:
        return None
    if found.request_hash != digest:
        raise problems.IDEMPOTENCY_KEY_REUSED.error(
            f"Idempotency-Key '{key}' was used with another request body for {route}; "
            "send a new key for a new request.",
            extra={"errors": [{"field": "Idempotency-Key", "message": "used with another body"}]},
        )
    return found.resource_id


def once(
    session: Session,
    vendor_id: str,
    route: str,
    key: str,
    body: BaseModel,
    make: Callable[[], str],
) -> str:
    """The id of what `make` made for this key, making it (and committing) only the first
    time. Two requests racing with one key: the unique key lets one commit, the other rolls
    back and answers with the winner's object."""
    digest = _fingerprint(route, body)
    made = _made(session, vendor_id, route, key, digest)
    if made is not None:
        return made
    resource_id = make()
    session.add(
        IdempotentRequest(
            vendor_id=vendor_id, route=route, key=key, request_hash=digest, resource_id=resource_id
        )
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        made = _made(session, vendor_id, route, key, digest)
        if made is None:
            raise
        return made
    return resource_id
