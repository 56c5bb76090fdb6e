"""What explains an outcome row to the customer beyond its status: the outcome that
superseded it (`exclusive`), and the evidence of its confirmation (`evidence`, read on the
confirming event). One query each for a page of rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from metering.catalog.plans.compiled import rules_of
from metering.ledger import states
from metering.ledger.events.models import StoredEvent
from metering.ledger.outcomes.models import Outcome, OutcomeReversal
from metering.ledger.states import DisplayStatus
from metering.platform.db import bulk
from pricing_rules.events import Event
from pricing_rules.outcomes import ClaimKind
from pricing_rules.paths import MISSING, canonical_key, compile_getter

OUTCOMES: sa.Table = Outcome.__table__  # type: ignore[attr-defined]
CLAIMS: sa.Table = OutcomeReversal.__table__  # type: ignore[attr-defined]
EVENTS: sa.Table = StoredEvent.__table__  # type: ignore[attr-defined]
SUBJECT_TYPES = (sa.Text(), sa.DateTime(timezone=True), sa.Text())
MATCH_TYPES = (sa.Text(), sa.Text(), sa.Text())


def superseding(
    session: Session, rows: Sequence[Any], statuses: Sequence[DisplayStatus]
) -> dict[int, tuple[str, int]]:
    """Row id -> the outcome that superseded it and its row id: the counted row of another
    outcome with the same subject (customer, period, exclusive key)."""
    lost = [r for r, s in zip(rows, statuses, strict=True) if s is DisplayStatus.SUPERSEDED]
    if not lost:
        return {}
    t = OUTCOMES.c
    subjects = sorted({(r.customer_id, r.period_start, r.dedupe_key) for r in lost})
    statement = sa.select(t.customer_id, t.period_start, t.dedupe_key, t.outcome, t.id).where(
        states.COUNTED.sql(t),
        bulk.tuples_in(
            session, (t.customer_id, t.period_start, t.dedupe_key), SUBJECT_TYPES, subjects
        ),
    )
    winners: dict[tuple[str, datetime, str], set[tuple[str, int]]] = {}
    for customer_id, period_start, key, outcome, row_id in session.execute(statement):
        winners.setdefault((customer_id, period_start, key), set()).add((outcome, row_id))
    found = {}
    for row in lost:
        subject = winners.get((row.customer_id, row.period_start, row.dedupe_key), set())
        others = [winner for winner in subject if winner[0] != row.outcome]
        if others:
            found[row.id] = min(others)
    return found


def evidence(session: Session, rows: Sequence[Any]) -> dict[int, dict[str, str]]:
    """Row id -> the `evidence` paths of its outcome read on its confirming event (the first
    live confirmation in its window), for rows whose outcome names evidence."""
    wanted: dict[int, tuple[str, ...]] = {}
    for row in rows:
        spec = rules_of(session, row.plan_version_id).outcomes.get(row.outcome)
        if spec is not None and spec.evidence and row.match_key is not None:
            wanted[row.id] = spec.evidence
    if not wanted:
        return {}
    c, e = CLAIMS.c, EVENTS.c
    matches = sorted({(r.customer_id, r.outcome, r.match_key) for r in rows if r.id in wanted})
    statement = (
        sa.select(c.customer_id, c.outcome, c.match_key, c.occurred_at, e.event_id, e.type)
        .add_columns(e.customer_external_id, e.properties)
        .select_from(CLAIMS.join(EVENTS, EVENTS.c.pk == c.event_pk))
        .where(
            c.kind == ClaimKind.CONFIRMATION.value,
            c.voided.is_(False),
            bulk.tuples_in(session, (c.customer_id, c.outcome, c.match_key), MATCH_TYPES, matches),
        )
        .order_by(c.occurred_at, c.id)
    )
    confirmations: dict[tuple[str, str, str], list[Event]] = {}
    for customer_id, outcome, match_key, when, event_id, kind, customer, props in session.execute(
        statement
    ):
        confirmations.setdefault((customer_id, outcome, match_key), []).append(
            Event(event_id, kind, customer, when, props)
        )
    found: dict[int, dict[str, str]] = {}
    for row in rows:
        paths = wanted.get(row.id)
        if paths is None:
            continue
        for event in confirmations.get((row.customer_id, row.outcome, row.match_key), []):
            if row.occurred_at <= event.timestamp and (
                row.verify_by is None or event.timestamp <= row.verify_by
            ):
                found[row.id] = {path: value_text(compile_getter(path)(event)) for path in paths}
                break
    return found


def value_text(value: Any) -> str:
    """A property value as text: strings as they are, numbers exactly, the rest as JSON."""
    if value is MISSING or value is None:
        return ""
    if isinstance(value, str | bool | int | Decimal | float):
        return canonical_key(value)
    return json.dumps(value, sort_keys=True, default=str)
