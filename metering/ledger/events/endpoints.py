"""`/v1/events` and `/v1/webhooks/{vendor_id}/events`: two doors, one ingestion service.

Status codes of both ingestion doors:
- one event: 201 stored, 200 already stored with the same content (a safe retry);
- a batch (`{"events": [...]}` or a CloudEvents batch): 200, with `accepted`, `duplicates`
  and every `rejected` item by index (409 id reused with other content, 422 invalid);
- problems, nothing stored: 400 malformed JSON, 401 bad or missing key or signature,
  404 unknown vendor (webhook), 409 or 422 for a single event, 413 body over the size limit
  or more than 1,000 events, 415 unsupported Content-Type.

A transaction that loses its connection is run once more on a fresh one (an event id is
stored once, so that is safe); a second loss, or a database that does not answer, is a 503
with `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session, col
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from metering.catalog.customers import service as customers
from metering.catalog.vendors.auth import (
    API_KEY_PROBLEMS,
    SIGNATURE_PROBLEMS,
    current_vendor,
    verify_webhook,
)
from metering.catalog.vendors.models import Vendor
from metering.ledger import states
from metering.ledger.eventlog import listing as eventlog_listing
from metering.ledger.eventlog.clickhouse import ClickHouseLog
from metering.ledger.eventlog.config import eventlog_of
from metering.ledger.eventlog.record import EventRecord
from metering.ledger.eventlog.transports import EventLogUnavailable
from metering.ledger.events import repository, service
from metering.ledger.events.models import StoredEvent
from metering.ledger.events.parsing import (
    CLOUDEVENT,
    CLOUDEVENTS_BATCH,
    JSON,
    Envelope,
    read_envelope,
)
from metering.ledger.events.schemas import (
    EventDetail,
    EventOut,
    IngestResponse,
    OutcomeOut,
    RejectedItem,
    VoidIn,
    VoidOut,
)
from metering.ledger.outcomes import repository as outcomes
from metering.ledger.states import EventStatus
from metering.platform.api import problems
from metering.platform.api.body import read_body
from metering.platform.api.deps import app_settings
from metering.platform.api.inputs import CalendarTime
from metering.platform.api.openapi import STANDARD_WEBHOOKS
from metering.platform.api.pagination import Cursor, Limit, Page, paginate
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db import jsontext
from metering.platform.db.faults import retried_once
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.platform.monitoring import metrics
from metering.platform.settings import Settings

router = APIRouter(tags=["events"])

STATUS_CODES = """

**Status codes**
- one event: `201` stored; `200` already stored with the same content (a safe retry);
  `409` the id was stored with other content (never overwritten); `422` invalid event.
- a batch: `200` with `accepted`, `duplicates` and each `rejected` item by `index`
  (`409` or `422` with the reason); the valid items are stored, the others are not.
- nothing stored: `400` malformed JSON, `401` missing or bad credentials, `413` body over
  5 MiB or more than 1,000 events, `415` unsupported Content-Type, `422` bad envelope.

Accepted bodies: one event object, `{"events": [...]}`, a CloudEvents 1.0 structured event
(`application/cloudevents+json`) or batch (`application/cloudevents-batch+json`).
"""


class ExactJSONResponse(JSONResponse):
    """JSON with decimals written as exact numbers (event properties keep their digits)."""

    def render(self, content: Any) -> bytes:
        return jsontext.dumps(content, sort_keys=False).encode()


_EVENT_EXAMPLE = {
    "id": "evt_101",
    "type": "conversation.resolved",
    "customer": "acme",
    "timestamp": "2026-11-28T14:03:00Z",
    "properties": {"conversation_id": "c-42", "channel": "chat", "handled_by": "ai"},
}
_CLOUDEVENT_EXAMPLE = {
    "specversion": "1.0",
    "id": "evt_101",
    "type": "conversation.resolved",
    "source": "/support-agent",
    "subject": "acme",
    "time": "2026-11-28T14:03:00Z",
    "data": {"conversation_id": "c-42", "channel": "chat", "handled_by": "ai"},
}
_INGEST_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            JSON: {
                "examples": {
                    "one event": {"value": _EVENT_EXAMPLE},
                    "batch": {"value": {"events": [_EVENT_EXAMPLE]}},
                }
            },
            CLOUDEVENT: {"example": _CLOUDEVENT_EXAMPLE},
            CLOUDEVENTS_BATCH: {"example": [_CLOUDEVENT_EXAMPLE]},
        },
    }
}
_INGEST_PROBLEMS = (
    problems.HTTP_BAD_REQUEST,
    problems.BODY_TOO_LARGE,
    problems.MALFORMED_JSON,
    problems.UNSUPPORTED_MEDIA_TYPE,
    problems.INVALID_ENVELOPE,
    problems.TOO_MANY_EVENTS,
    problems.EVENT_CONFLICT,
    problems.INVALID_EVENT,
    problems.EVENTLOG_UNAVAILABLE,
)
_STORED_ONE: dict[int | str, dict[str, Any]] = {
    201: {"model": IngestResponse, "description": "One event stored."}
}


def _ingest(
    session: Session,
    vendor_id: str,
    envelope: Envelope,
    settings: Settings,
    door: str,
    after: AfterIngest | None = None,
) -> ExactJSONResponse:
    limits = service.limits_of(settings)

    def work() -> tuple[service.IngestResult, Callable[[], object] | None]:
        found = service.ingest(
            session, vendor_id, envelope.items, utcnow(), limits, envelope.checked
        )
        then = (
            after(session, vendor_id, found.customer_ids) if after and found.customer_ids else None
        )
        return found, then

    result, then = retried_once(session, work)
    _count(door, result)
    if not envelope.batch and result.rejected:
        rejected = result.rejected[0]
        kind = problems.EVENT_CONFLICT if rejected.status == 409 else problems.INVALID_EVENT
        raise kind.error(
            rejected.detail,
            extra={"rejected": [RejectedItem(**_fields(rejected)).model_dump()]},
        )
    # `IngestResponse` as a plain dict: the items' slots are its fields, and a model per item
    # cost more than the rest of the answer.
    body = {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": [_fields(r) for r in result.rejected],
        "events": [_fields(s) for s in result.stored],
    }
    status = 201 if not envelope.batch and result.accepted else 200
    response = ExactJSONResponse(body, status_code=status)
    if then is not None:  # after the answer is sent
        response.background = BackgroundTask(then)
    return response


# What the app does for stored events (`app.state.after_ingest`, set by the surfaces layer):
# called in the request's transaction with the vendor's id and our ids of the customers
# whose events were stored, it returns the work to run off the answer's path, if any.
AfterIngest = Callable[[Session, str, set[str]], Callable[[], object] | None]


def _after_ingest(request: Request) -> AfterIngest | None:
    after: AfterIngest | None = getattr(request.app.state, "after_ingest", None)
    return after


def _count(door: str, result: service.IngestResult) -> None:
    """The answer's items in `metering_events_ingested` (README, Monitoring)."""
    conflicts = sum(1 for rejected in result.rejected if rejected.status == 409)
    metrics.count_ingested(
        door,
        accepted=result.accepted,
        duplicates=result.duplicates,
        conflicts=conflicts,
        rejected=len(result.rejected) - conflicts,
    )


def _fields(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__slots__}


@router.post(
    "/v1/events",
    summary="Send events (API key)",
    response_model=IngestResponse,
    responses={**_STORED_ONE, **problem_responses(*API_KEY_PROBLEMS, *_INGEST_PROBLEMS)},
    openapi_extra=_INGEST_OPENAPI,
    description="Store one event or a batch of up to 1,000; retrying a batch is always safe."
    + STATUS_CODES,
)
async def post_events(
    request: Request,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> ExactJSONResponse:
    """Store one event or a batch of up to 1,000. Retrying a whole batch is always safe."""
    settings = app_settings(request)
    body = await read_body(request, settings.max_body_bytes)
    envelope = read_envelope(body, request.headers.get("content-type"), service.limits_of(settings))
    after = _after_ingest(request)
    return await run_in_threadpool(_ingest, session, vendor.id, envelope, settings, "api", after)


@router.post(
    "/v1/webhooks/{vendor_id}/events",
    summary="Send events (signed webhook)",
    response_model=IngestResponse,
    responses={**_STORED_ONE, **problem_responses(*SIGNATURE_PROBLEMS, *_INGEST_PROBLEMS)},
    openapi_extra={**_INGEST_OPENAPI, **STANDARD_WEBHOOKS},
    description="`POST /v1/events` for signed deliveries: Standard Webhooks headers made with "
    "the vendor's signing secret; timestamps more than 5 minutes off are refused (`401`), "
    "an unknown vendor is `404`." + STATUS_CODES,
)
async def post_webhook_events(
    vendor_id: str, request: Request, session: Session = Depends(get_session)
) -> ExactJSONResponse:
    """The same as `POST /v1/events`, authenticated by a Standard Webhooks signature made
    with the vendor's signing secret (timestamps older or newer than 5 minutes refused)."""
    settings = app_settings(request)
    body = await read_body(request, settings.max_body_bytes)
    headers = dict(request.headers)
    vendor = await run_in_threadpool(
        retried_once,
        session,
        lambda: verify_webhook(session, vendor_id, body, headers, settings=settings),
        commit=False,
    )
    envelope = read_envelope(body, request.headers.get("content-type"), service.limits_of(settings))
    after = _after_ingest(request)
    return await run_in_threadpool(
        _ingest, session, vendor.id, envelope, settings, "webhook", after
    )


def _event_out(event: StoredEvent, void: Any = None) -> dict[str, Any]:
    return EventOut(
        id=event.event_id,
        type=event.type,
        customer=event.customer_external_id,
        customer_id=event.customer_id,
        timestamp=event.occurred_at,
        received_at=event.received_at,
        status=event.status,
        properties=event.properties,
        cost=event.cost,
        plan_version_id=event.plan_version_id,
        void=VoidOut(reason=void.reason, voided_at=void.voided_at) if void else None,
    ).model_dump()


def _eventlog(session: Session, vendor_id: str) -> ClickHouseLog | None:
    try:
        return eventlog_of(session, vendor_id)
    except EventLogUnavailable as error:
        raise problems.EVENTLOG_UNAVAILABLE.error(str(error)) from None


def _log_only(session: Session, vendor_id: str, event_id: str) -> EventRecord | None:
    """A cost-only event of an event-log vendor (stored only in the log), else None."""
    log = _eventlog(session, vendor_id)
    if log is None or repository.by_event_id(session, vendor_id, event_id) is not None:
        return None
    return eventlog_listing.find(log, vendor_id, event_id)


def _logged_detail(event: StoredEvent, void: Any) -> ExactJSONResponse:
    """A log-only event: it makes no outcome."""
    return ExactJSONResponse({**_event_out(event, void), "outcomes": []})


def _detail(session: Session, event: StoredEvent) -> ExactJSONResponse:
    assert event.pk is not None
    rows = outcomes.rows_of_event(session, event.pk)
    document = _event_out(event, repository.void_of(session, event.pk))
    document["outcomes"] = [
        OutcomeOut(
            outcome=row.outcome,
            state=row.state,
            period_start=row.period_start,
            period_end=row.period_end,
            dedupe_key=row.dedupe_key,
            match_key=row.match_key,
            value=row.measured(),
            problem=row.problem,
            settles_at=row.settles_at,
            plan_version_id=row.plan_version_id,
        ).model_dump()
        for row in rows
    ]
    return ExactJSONResponse(document)


@router.get(
    "/v1/events",
    summary="List events",
    response_model=Page[EventOut],
    responses=problem_responses(
        *API_KEY_PROBLEMS, problems.INVALID_CURSOR, problems.INVALID_REQUEST, problems.NOT_FOUND
    ),
)
def list_events(
    customer: str | None = Query(
        None, description="Only this customer's: our id (cus_...) or yours."
    ),
    type: str | None = Query(None, description="Event type."),
    status: EventStatus | None = Query(None, description="Event status."),
    occurred_from: CalendarTime | None = Query(
        None, alias="from", description="Events at or after this time (ISO 8601)."
    ),
    occurred_to: CalendarTime | None = Query(
        None, alias="to", description="Events before this time (ISO 8601)."
    ),
    cursor: Cursor = None,
    limit: Limit = 100,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> ExactJSONResponse:
    """The vendor's events in the order they were stored, filtered, a page at a time; an
    unknown customer is a 404."""
    for name, value in (("from", occurred_from), ("to", occurred_to)):
        if value is not None and value.tzinfo is None:
            raise problems.INVALID_REQUEST.error(
                f"query parameter {name}: add a timezone (Z or an offset) to {value.isoformat()}"
            )
    customer_id = None
    if customer is not None:
        customer_id = customers.by_reference_or_404(session, vendor, customer).id
    where = repository.EventFilter(
        customer_id=customer_id,
        type=type,
        status=status.value if status else None,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )
    log = _eventlog(session, vendor.id)
    if log is not None:  # every event of such a vendor is in the event log
        listed, next_cursor = eventlog_listing.list_events(
            session, log, vendor.id, where, cursor, limit
        )
        data = [_event_out(event, void) for event, void in listed]
        return ExactJSONResponse({"data": data, "next_cursor": next_cursor})
    rows, next_cursor = paginate(
        session,
        repository.listing(vendor.id, where),
        col(StoredEvent.pk),
        cursor,
        limit,
    )
    voided = [row.pk for row in rows if row.pk is not None and states.EVENT_VOIDED.holds(row)]
    voids = repository.voids_of(session, voided)
    data = [_event_out(row, voids.get(row.pk or 0)) for row in rows]
    return ExactJSONResponse({"data": data, "next_cursor": next_cursor})


@router.get(
    "/v1/events/{event_id:path}",
    summary="Get an event with its status and outcomes",
    response_model=EventDetail,
    responses=problem_responses(*API_KEY_PROBLEMS, problems.NOT_FOUND),
)
def get_event(
    event_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> ExactJSONResponse:
    logged = _log_only(session, vendor.id, event_id)
    if logged is not None:
        return _logged_detail(*eventlog_listing.shown(logged))
    return _detail(session, service.get_event(session, vendor.id, event_id))


@router.post(
    "/v1/events/{event_id:path}/void",
    summary="Void an event",
    response_model=EventDetail,
    responses=problem_responses(*API_KEY_PROBLEMS, problems.NOT_FOUND, problems.INVALID_REQUEST),
)
def void_event(
    event_id: str,
    data: VoidIn,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> ExactJSONResponse:
    """Mark the event voided: kept for audit, out of rating. Its outcome is taken back and
    the next candidate of its key, if any, counts instead. Voiding again changes nothing."""
    logged = _log_only(session, vendor.id, event_id)
    if logged is not None:
        log = _eventlog(session, vendor.id)
        assert log is not None
        return _logged_detail(*eventlog_listing.void(log, logged, data.reason, utcnow()))
    event, _ = service.void(session, vendor.id, event_id, data.reason)
    session.commit()
    return _detail(session, event)
