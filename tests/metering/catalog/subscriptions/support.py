"""Plans, customers and events at fixed instants, for subscription tests on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.catalog.customers.models import Customer
from metering.catalog.subscriptions.schemas import Effective
from metering.catalog.vendors.models import Vendor
from metering.ledger.plan_changes import service
from tests.metering.conftest import SUPPORT_RULES, create_plan
from tests.metering.ledger.events.helpers import ingest_all, reopen_event, resolved, table


def at(text: str) -> datetime:
    """An instant written as '2026-11-10T12:00' (UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rules(version: int, price: str = "0.99", slug: str = "support-agent") -> str:
    """The support rules as `version` with its own per-resolution price."""
    return (
        SUPPORT_RULES.replace("version: 1", f"version: {version}")
        .replace('unit_price: "0.99"', f'unit_price: "{price}"')
        .replace("plan: support-agent", f"plan: {slug}")
    )


def plan_with_versions(engine: Engine, vendor_id: str, count: int) -> str:
    plan_id = ""
    for number in range(1, count + 1):
        plan_id = create_plan(engine, vendor_id, rules(number, f"{number}.00"))
    return plan_id


def resolution(event_id: str, when: str, conversation: str = "c-1") -> dict[str, Any]:
    return resolved(event_id, conversation, timestamp=f"{when}:00Z")


def reopen(event_id: str, when: str, conversation: str = "c-1") -> dict[str, Any]:
    return reopen_event(event_id, conversation, timestamp=f"{when}:00Z")


def send(engine: Engine, vendor_id: str, now: str, *events: dict[str, Any]) -> list[str]:
    """Ingest `events` as received at `now`; their statuses."""
    return [stored.status for stored in ingest_all(engine, vendor_id, list(events), at(now)).stored]


def subscribe(
    engine: Engine,
    vendor_id: str,
    customer_id: str,
    now: str,
    version: int | None = None,
    effective: Effective = Effective.NEXT_PERIOD,
    starts_at: str | None = None,
    plan: str = "support-agent",
) -> service.Change:
    with Session(engine, expire_on_commit=False) as session:
        vendor = session.get(Vendor, vendor_id)
        customer = session.get(Customer, customer_id)
        assert vendor is not None and customer is not None
        change = service.subscribe(
            session,
            vendor,
            customer,
            plan,
            version,
            effective,
            at(starts_at) if starts_at else None,
            at(now),
        )
        session.commit()
        return change


def spans(engine: Engine) -> list[tuple[int, str, str | None]]:
    """Every subscription as (version, starts_at, ends_at), oldest first."""
    rows = table(
        engine,
        "subscriptions s JOIN plan_versions v ON v.id = s.plan_version_id",
        "v.version",
        "s.starts_at",
        "s.ends_at",
        order="s.starts_at",
    )
    return [(version, iso(start), iso(end) if end else None) for version, start, end in rows]


def iso(value: Any) -> str:
    """A stored instant as 'YYYY-MM-DDTHH:MM' UTC (SQLite returns text, PostgreSQL datetimes)."""
    instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def outcome_rows(engine: Engine) -> list[tuple[str, int, str, str, str]]:
    """Each outcome row as (event id, version, period start, period end, state)."""
    rows = table(
        engine,
        "outcomes o JOIN plan_versions v ON v.id = o.plan_version_id",
        "o.event_id",
        "v.version",
        "o.period_start",
        "o.period_end",
        "o.state",
        order="o.event_id",
    )
    return [(e, v, iso(s), iso(p), st) for e, v, s, p, st in rows]


def stale_marks(engine: Engine) -> list[tuple[str, int]]:
    rows = table(engine, "stale_periods", "period_start", "generation", order="period_start")
    return [(iso(start), generation) for start, generation in rows]
