"""`/vendor/disputes`: the disputes desk. Open disputes, oldest first, each answered in the
page (accept, or reject with a note) through the service of `POST /v1/disputes/{id}/accept`
and `/reject`; the notes are checked by the API's own bodies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col

from metering.billing.invoices.repository import external_ids
from metering.ledger.disputes import repository, service
from metering.ledger.disputes.models import Dispute, DisputeStatus
from metering.ledger.disputes.schemas import AcceptBody, RejectBody
from metering.platform.api.pagination import paginate
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.platform.web.templating import render
from metering.surfaces.vendor_web import console
from metering.surfaces.vendor_web.auth import VendorContext, vendor_context

router = APIRouter(include_in_schema=False)
DESK = "/vendor/disputes"
NOTE_REQUIRED = "Write a note to reject: it tells the customer why the outcome stays billed."
NOTE_TOO_LONG = "The note is too long (at most 4,000 characters)."


def _desk(
    request: Request,
    context: VendorContext,
    session: Session,
    status: str,
    cursor: str | None,
    status_code: int = 200,
    **more: Any,
) -> HTMLResponse:
    statement = repository.listing(context.vendor.id, status, None)
    rows, next_cursor = paginate(session, statement, col(Dispute.id), cursor, console.PAGE_SIZE)
    return render(
        request,
        "vendor/disputes.html",
        console.values(
            context,
            "disputes",
            disputes=rows,
            customers=external_ids(session, {row.customer_id for row in rows}),
            status=status,
            statuses=[s.value for s in DisputeStatus],
            next_cursor=next_cursor,
            first_page=cursor is None,
            **{"notice": None, "error_for": None, "error": None, "note": "", **more},
        ),
        status_code=status_code,
    )


@router.get(DESK, response_class=HTMLResponse)
def disputes_page(
    request: Request,
    status: str = Query(DisputeStatus.OPEN.value),
    cursor: str | None = Query(None),
    done: str = Query(""),
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    chosen = status if status in {s.value for s in DisputeStatus} else DisputeStatus.OPEN.value
    notice = None
    if done in (DisputeStatus.ACCEPTED.value, DisputeStatus.REJECTED.value):
        notice = f"The dispute was {done}; the customer sees your answer in the portal."
    try:
        return _desk(request, context, session, chosen, cursor or None, notice=notice)
    except ProblemError as error:
        return console.problem_page(request, context, error, DESK)


def _note_error(error: ValidationError) -> str:
    kinds = {item["type"] for item in error.errors()}
    return NOTE_TOO_LONG if "string_too_long" in kinds else NOTE_REQUIRED


@router.post(DESK + "/{dispute_id}/{answer}", response_model=None)
def answer_dispute(
    request: Request,
    dispute_id: str,
    answer: str,
    note: str = Form(""),
    csrf_token: str = Form(""),
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
) -> Response:
    """`accept` (the outcome is credited) or `reject` (it stays billed, the note says why)."""
    if answer not in ("accept", "reject"):
        return console.message_page(request, context, "Not Found", "No such page.", 404, DESK)
    try:
        console.check_csrf(context, csrf_token)
        service.get_or_404(session, context.vendor, dispute_id)
        now = utcnow()
        if answer == "accept":
            accepted = AcceptBody(note=note or None)
            service.accept(session, context.vendor, dispute_id, accepted.note, now)
        else:
            rejected = RejectBody(note=note)
            service.reject(session, context.vendor, dispute_id, rejected.note, now)
    except ProblemError as error:
        session.rollback()
        return console.problem_page(request, context, error, DESK)
    except ValidationError as error:
        session.rollback()
        values = {"error_for": dispute_id, "error": _note_error(error), "note": note}
        return _desk(
            request, context, session, DisputeStatus.OPEN.value, None, status_code=422, **values
        )
    session.commit()
    done = "accepted" if answer == "accept" else "rejected"
    return RedirectResponse(f"{DESK}?done={done}", status_code=303)
