"""Building events and requests the way a vendor would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cloudevents.core.bindings.http import to_structured_event
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy.engine import Engine
from sqlmodel import Session
from standardwebhooks import Webhook

from metering.ledger.events.parsing import Limits
from metering.ledger.events.service import IngestResult, ingest
from metering.platform.db.types import utcnow

STARTED = utcnow().replace(microsecond=0)
LIMITS = Limits(max_batch_events=10_000, max_properties_bytes=32768, future_tolerance=timedelta(0))


def recent(minutes_ago: int = 60) -> str:
    """A time shortly before the tests started: never in the future, never late."""
    return (STARTED - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


def resolved(
    event_id: str, conversation: str, customer: str = "acme", **extra: Any
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "conversation.resolved",
        "customer": customer,
        "timestamp": extra.pop("timestamp", recent()),
        "properties": {"conversation_id": conversation, "channel": "chat", "handled_by": "ai"}
        | extra,
    }


def reopen_event(
    event_id: str, conversation: str, customer: str = "acme", timestamp: str | None = None
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "conversation.reopened",
        "customer": customer,
        "timestamp": timestamp or recent(120),
        "properties": {"conversation_id": conversation},
    }


def ingest_all(
    engine: Engine, vendor_id: str, events: list[dict[str, Any]], now: datetime
) -> IngestResult:
    """Store `events` as received at `now` through the service (no HTTP); none rejected."""
    with Session(engine) as session:
        result = ingest(session, vendor_id, events, now, LIMITS)
        session.commit()
    assert result.rejected == []
    return result


def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def signed(
    secret: str, body: bytes, msg_id: str = "msg_1", at: datetime | None = None
) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed by the `standardwebhooks` package."""
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


CLOUDEVENT_TIME = STARTED - timedelta(hours=1)


def cloudevent(
    event_id: str, customer: str, data: dict[str, Any], type: str = "conversation.resolved"
) -> CloudEvent:
    return CloudEvent(
        {
            "specversion": "1.0",
            "id": event_id,
            "type": type,
            "source": "/support-agent",
            "subject": customer,
            "time": CLOUDEVENT_TIME,
            "datacontenttype": "application/json",
        },
        data,
    )


def structured(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    message = to_structured_event(event)
    return dict(message.headers), message.body


def batch(events: list[CloudEvent]) -> bytes:
    """A CloudEvents JSON batch: the SDK writes each event, the batch is their array."""
    fmt = JSONFormat()
    return ("[" + ",".join(fmt.write(event).decode() for event in events) + "]").encode()


def table(engine: Engine, name: str, *columns: str, order: str = "") -> list[tuple[Any, ...]]:
    """The rows of a table as tuples of `columns` (what the database holds)."""
    query = f"SELECT {', '.join(columns)} FROM {name}" + (f" ORDER BY {order}" if order else "")
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(query))]


def body(value: Any) -> bytes:
    return json.dumps(value).encode()
