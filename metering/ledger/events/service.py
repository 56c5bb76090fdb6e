"""Storing events: every valid event exactly once, every invalid one reported by index.

One transaction per request: customers named for the first time are created as
unprovisioned, new events are inserted (a retried or concurrent duplicate is skipped by
the unique constraint), and their outcome rows are written. (For a vendor with the event
log, the new customers are committed first, in a transaction of their own: see `_store`.)
Retrying a whole batch is always safe: stored events come back as duplicates, never as
new rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from metering.catalog.subscriptions.repository import term_at, terms_of
from metering.ledger.eventlog import hook as eventlog_hook
from metering.ledger.events import repository
from metering.ledger.events.models import EventVoid, StoredEvent
from metering.ledger.events.parsing import EventIn, ItemError, Limits, parse_item
from metering.ledger.outcomes.service import StoredEventRef, classify, void_outcomes, write_outcomes
from metering.ledger.states import EventStatus
from metering.platform.api import problems
from metering.platform.api.problems import not_found
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings


@dataclass(frozen=True, slots=True)
class Rejected:
    """An item that was not stored: 409 for an id reused with other content, 422 invalid."""

    index: int
    id: str | None
    status: int
    detail: str


@dataclass(slots=True)
class Stored:
    index: int
    id: str
    status: str


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    stored: list[Stored] = field(default_factory=list)
    # Our ids of the customers whose events were stored (what may have changed their spend).
    customer_ids: set[str] = field(default_factory=set)


_LOGGED_BY_THIS_REQUEST = "eventlog_stored"
"""`Session.info` key: the ids of the log-only events this request's log passes stored."""


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_batch_events=settings.max_batch_events,
        max_properties_bytes=settings.max_properties_bytes,
        future_tolerance=settings.future_tolerance,
    )


def _conflict_detail(event_id: str, where: str) -> str:
    return (
        f"event '{event_id}' {where} with different content; an event id is stored once and "
        "never overwritten, so send a change as a new event with a new id"
    )


def ingest(
    session: Session,
    vendor_id: str,
    items: list[Any],
    now: datetime,
    limits: Limits,
    checked: bool = False,
) -> IngestResult:
    """Store the valid items of one request (the caller commits); `checked` as in
    `parse_item`."""
    result = IngestResult()
    first_seen: dict[str, EventIn] = {}
    indexes: dict[str, int] = {}
    for index, item in enumerate(items):
        try:
            parsed = parse_item(item, now, limits, checked)
        except ItemError as error:
            result.rejected.append(Rejected(index, error.event_id, 422, error.detail))
            continue
        event_id = parsed.event.id
        earlier = first_seen.get(event_id)
        if earlier is None:
            first_seen[event_id] = parsed
            indexes[event_id] = index
        elif earlier.content_hash == parsed.content_hash:
            result.duplicates += 1
        else:
            where = f"appears earlier in this batch (index {indexes[event_id]})"
            result.rejected.append(
                Rejected(index, event_id, 409, _conflict_detail(event_id, where))
            )
    if first_seen:
        _store(session, vendor_id, first_seen, indexes, now, result)
    result.rejected.sort(key=lambda rejected: rejected.index)
    result.stored.sort(key=lambda stored: stored.index)
    return result


def _store(
    session: Session,
    vendor_id: str,
    events: dict[str, EventIn],
    indexes: dict[str, int],
    now: datetime,
    result: IngestResult,
) -> None:
    log = eventlog_hook.Hook.of(session, vendor_id)
    customers, created = repository.ensure_customers(
        session, vendor_id, {e.event.customer for e in events.values()}, now
    )
    if created and log is not None:
        # The event log keys rows by our customer id: a customer made in a transaction
        # that then failed after the log took the batch would leave its rows under an id
        # no retry makes again (the events twice in the log, their costs on no customer).
        # Committed first, the retry finds it. (A batch that fails leaves the customers it
        # named, unprovisioned, as a batch of a customer already known leaves nothing.)
        session.commit()
    repository.hold_subscriptions(session, customers.values())
    terms = terms_of(session, customers.values())
    rows: list[dict[str, Any]] = []
    classified = {}
    for event_id in sorted(events):  # one lock order for every writer
        event = events[event_id].event
        customer_id = customers[event.customer]
        found = classify(term_at(terms.get(customer_id, ()), event.timestamp), event)
        classified[event_id] = found
        if log is not None and log.keeps_only(found.status, events[event_id]):
            log.hold(customer_id, events[event_id], indexes[event_id], found.plan_version_id)
            continue
        rows.append(
            {
                "vendor_id": vendor_id,
                "event_id": event_id,
                "type": event.type,
                "customer_id": customer_id,
                "customer_external_id": event.customer,
                "occurred_at": event.timestamp,
                "received_at": now,
                "properties": events[event_id].properties_json,
                "cost": events[event_id].cost_json,
                "content_hash": events[event_id].content_hash,
                "status": found.status.value,
                "plan_version_id": found.plan_version_id,
            }
        )
    if log is not None:  # the log-only rows, built before anything waits on ClickHouse
        log.start(now)
    inserted = repository.insert_new(session, rows)
    unseen = events.keys() - inserted.keys()
    logged = None
    if log is not None:  # acknowledged only when both stores have the batch
        new = [(customers[events[e].event.customer], events[e], indexes[e]) for e in inserted]
        log.took(new, now)
        unseen -= log.held
        logged = log.finish()
        # A transient database fault after the log took the batch makes `retried_once` run
        # it again (the session is the request's): the log-only events the first run wrote
        # are this request's, not duplicates.
        mine: set[str] = session.info.setdefault(_LOGGED_BY_THIS_REQUEST, set())
        own = [(i, event_id) for i, event_id in logged.duplicates if event_id in mine]
        mine.update(event_id for _, event_id, _ in logged.stored)
        if logged.clashes:  # ids the log holds as log-only events: not new after all
            repository.delete_new(session, [inserted.pop(e) for e in logged.clashes])
            for event_id, same in logged.clashes.items():
                _already_stored(result, indexes[event_id], event_id, same)
    existing = repository.stored_hashes(session, vendor_id, unseen)
    for event_id, stored_hash in existing.items():
        same = stored_hash == events[event_id].content_hash
        _already_stored(result, indexes[event_id], event_id, same)
    refs = [
        StoredEventRef(
            pk,
            vendor_id,
            customers[events[event_id].event.customer],
            events[event_id].event,
            classified[event_id],
            classified[event_id].status.value,
        )
        for event_id, pk in inserted.items()
    ]
    statuses = write_outcomes(session, refs, now)
    result.accepted = len(refs)
    result.customer_ids = {ref.customer_id for ref in refs}
    result.stored = [
        Stored(indexes[ref.event.id], ref.event.id, statuses[ref.pk].value) for ref in refs
    ]
    if logged is not None:
        stored = logged.stored + [(i, e, EventStatus.UNMATCHED.value) for i, e in own]
        result.accepted += len(stored)
        result.duplicates += len(logged.duplicates) - len(own)
        result.stored += [Stored(i, event_id, status) for i, event_id, status in stored]
        for index, event_id in logged.conflicts:
            _already_stored(result, index, event_id, same=False)


def _already_stored(result: IngestResult, index: int, event_id: str, same: bool) -> None:
    """Answer an event whose id a store already holds: a retry (`same` content) counts as
    a duplicate, anything else is a conflict."""
    if same:
        result.duplicates += 1
    else:
        detail = _conflict_detail(event_id, "was already stored")
        result.rejected.append(Rejected(index, event_id, 409, detail))


def get_event(session: Session, vendor_id: str, event_id: str) -> StoredEvent:
    """The vendor's event, or a 404 problem (also for another vendor's event)."""
    event = repository.by_event_id(session, vendor_id, event_id)
    if event is None:
        raise not_found("event", event_id)
    return event


def void(
    session: Session, vendor_id: str, event_id: str, reason: str, now: datetime | None = None
) -> tuple[StoredEvent, EventVoid]:
    """Void an event (kept for audit, out of rating); voiding it again changes nothing."""
    event = get_event(session, vendor_id, event_id)
    assert event.pk is not None
    earlier = repository.void_of(session, event.pk)
    if earlier is not None:
        return event, earlier
    if not reason.strip():
        raise problems.INVALID_REQUEST.error("reason: must not be empty")
    voided_at = now or utcnow()
    record = EventVoid(event_pk=event.pk, reason=reason, voided_at=voided_at)
    session.add(record)
    event.status = EventStatus.VOIDED
    session.add(event)
    session.flush()
    void_outcomes(session, event, voided_at)
    session.refresh(event)
    return event, record
