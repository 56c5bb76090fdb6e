"""A plan to alert on, events at chosen times, alert rules made through the service."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.catalog.vendors.models import Vendor
from metering.notify.alerts import service
from metering.notify.alerts.evaluation import Fired, evaluate
from metering.notify.alerts.models import AlertFiring
from metering.notify.alerts.schemas import AlertCreate
from tests.metering.ledger.events.helpers import ingest_all

RULES = """\
plan: {slug}
version: 1
currency: usd
billing: {{interval: month, timezone: UTC, close_after: 72h}}
outcomes:
  resolved_conversation:
    event: conversation.resolved
    unique_by: properties.conversation_id
  qualified_lead:
    event: lead.qualified
    unique_by: properties.lead_id
charges:
  - {{outcome: resolved_conversation, model: per_unit, unit_price: "2.50"}}
  - {{outcome: qualified_lead, model: per_unit, unit_price: "10.00"}}
  - {{name: Platform fee, model: flat, price: "5.00"}}
maximum: {maximum}
"""

NOTIFY = '{amount: "50.00", on_reach: notify}'
STOP = '"50.00"'


def rules(slug: str = "alerting", maximum: str = NOTIFY) -> str:
    return RULES.format(slug=slug, maximum=maximum)


def at(day: int, month: int = 10, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def resolutions(prefix: str, count: int, when: datetime, customer: str = "acme") -> list[Any]:
    return [
        {
            "id": f"{prefix}-{n}",
            "type": "conversation.resolved",
            "customer": customer,
            "timestamp": iso(when),
            "properties": {"conversation_id": f"{prefix}-c{n}"},
        }
        for n in range(count)
    ]


def leads(prefix: str, count: int, when: datetime, customer: str = "acme") -> list[Any]:
    return [
        {
            "id": f"{prefix}-{n}",
            "type": "lead.qualified",
            "customer": customer,
            "timestamp": iso(when),
            "properties": {"lead_id": f"{prefix}-l{n}"},
        }
        for n in range(count)
    ]


def send(engine: Engine, vendor_id: str, events: list[Any], received: datetime) -> None:
    ingest_all(engine, vendor_id, events, received)


def add_alert(engine: Engine, vendor_id: str, **body: Any) -> str:
    with Session(engine) as session:
        vendor = session.get(Vendor, vendor_id)
        assert vendor is not None
        rule = service.create(session, vendor, AlertCreate.model_validate(body))
        session.commit()
        return rule.id


def fire(engine: Engine, now: datetime) -> list[tuple[str, str, Decimal]]:
    """Evaluate at `now`: (kind, period month, figure) of what fired."""
    fired: list[Fired] = evaluate(engine, now=now)
    return sorted((f.kind, f.period_start.strftime("%Y-%m"), f.figure) for f in fired)


def firings(engine: Engine) -> list[AlertFiring]:
    with Session(engine) as session:
        return list(session.exec(select(AlertFiring).order_by(col(AlertFiring.id))).all())
