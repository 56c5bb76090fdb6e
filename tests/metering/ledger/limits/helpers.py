"""A plan whose limits are easy to hand-compute: 4.00 per resolved conversation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from tests.metering.ledger.events.helpers import ingest_all, reopen_event, resolved, table

BLOCK_AT_10 = 'maximum: {amount: "10.00", on_reach: block}'


def rules(limits: str = BLOCK_AT_10, outcome_extra: str = "") -> str:
    return f"""\
plan: limited
version: 1
currency: usd
billing: {{interval: month, timezone: UTC, close_after: 72h}}
outcomes:
  resolved_conversation:
    event: conversation.resolved
    unique_by: properties.conversation_id
    settle:
      after: 24h
      reversed_by: {{event: conversation.reopened, match: properties.conversation_id}}
{outcome_extra}charges:
  - {{name: Resolutions, outcome: resolved_conversation, model: per_unit, unit_price: "4.00"}}
{limits}
"""


NOW = datetime(2026, 11, 10, tzinfo=UTC)


def at(hour: str) -> str:
    return f"2026-11-02T{hour}:00Z"


def resolution(event_id: str, hour: str, conversation: str) -> dict[str, Any]:
    return resolved(event_id, conversation, timestamp=at(hour))


def reopen(event_id: str, hour: str, conversation: str) -> dict[str, Any]:
    return reopen_event(event_id, conversation, timestamp=at(hour))


def send(engine: Engine, vendor_id: str, *events: dict[str, Any], now: datetime = NOW) -> None:
    ingest_all(engine, vendor_id, list(events), now)


def state(engine: Engine) -> dict[str, tuple[str, list[str]]]:
    """Each event's status and the states of its outcome rows."""
    statuses = dict(table(engine, "events", "event_id", "status"))
    rows: dict[str, list[str]] = {event_id: [] for event_id in statuses}
    for event_id, row_state in table(engine, "outcomes", "event_id", "state", order="id"):
        rows[event_id].append(row_state)
    return {event_id: (statuses[event_id], rows[event_id]) for event_id in sorted(statuses)}


def tallied(engine: Engine) -> dict[str, tuple[Decimal, int]]:
    """Units and rows the running tallies hold, by state (zero buckets left out)."""
    found: dict[str, tuple[Decimal, int]] = {}
    for row_state, units, rows in table(engine, "outcome_tallies", "state", "units", "rows"):
        before = found.get(row_state, (Decimal(0), 0))
        found[row_state] = (before[0] + Decimal(str(units)), before[1] + rows)
    return {key: value for key, value in found.items() if value[1]}


def counted_rows(engine: Engine) -> dict[str, tuple[Decimal, int]]:
    """What the tallies must hold, recounted from the outcome rows."""
    found: dict[str, tuple[Decimal, int]] = {}
    for (row_state,) in table(engine, "outcomes", "state"):
        if row_state in ("counted", "over_limit"):
            before = found.get(row_state, (Decimal(0), 0))
            found[row_state] = (before[0] + 1, before[1] + 1)
    return found
