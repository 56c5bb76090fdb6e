"""Helpers shared by the API tests: vendors made through the service, signed deliveries."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from standardwebhooks import Webhook

from metering.catalog.vendors import service
from metering.catalog.vendors.service import NewVendor


def make_vendor(engine: Engine, name: str = "Acme AI") -> NewVendor:
    with Session(engine, expire_on_commit=False) as session:
        created = service.create_vendor(session, name)
        session.commit()
        return created


def keyed(key: str) -> dict[str, str]:
    """The vendor's bearer header and a fresh Idempotency-Key (for requests that need one)."""
    return {**bearer(key), "Idempotency-Key": uuid.uuid4().hex}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def signed_headers(
    secret: str,
    body: str,
    *,
    msg_id: str = "msg_1",
    sent_at: datetime | None = None,
) -> dict[str, str]:
    """The headers a vendor's sender adds, made with the `standardwebhooks` package."""
    sent_at = sent_at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, sent_at, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def minutes_ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def as_json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))
