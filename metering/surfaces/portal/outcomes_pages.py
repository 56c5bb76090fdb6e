"""`/portal/outcomes`: the customer's outcomes (filter, pages, CSV export), one outcome's page
and the dispute form on it.

Filters travel in the query string (a GET form), so a filtered list is a link the customer
can bookmark, and the export link carries the same filters.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.ledger.disputes import repository as disputes_repository
from metering.ledger.disputes import service as disputes
from metering.ledger.states import DisplayStatus
from metering.platform.api.clock import request_now
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_engine, get_session
from metering.platform.web.templating import humanize
from metering.surfaces.portal import outcomes, outcomes_choices
from metering.surfaces.portal import outcomes_counts as outcome_counts
from metering.surfaces.portal.auth import (
    PortalContext,
    check_csrf,
    portal_context,
    render_page,
)
from metering.surfaces.portal.errors import PortalPageError, not_found_page
from metering.surfaces.portal.outcomes import OutcomeFilter, OutcomeView
from metering.surfaces.portal.outcomes_status import LABELS

router = APIRouter(prefix="/portal", include_in_schema=False)

FILTER_FIELDS = ("outcome", "status", "period", "from", "to", "q", "invoice", "line", "all")
SHOWN_REPEATS = (DisplayStatus.DUPLICATE, DisplayStatus.SUPERSEDED)


def _bad(title: str, message: str, portal: PortalContext) -> PortalPageError:
    return PortalPageError(400, title, message, portal=portal)


def _day(value: str, field: str, portal: PortalContext) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(
            "This date is not valid",
            f"'{value}' in {field} is not a date; write it as 2026-11-30.",
            portal,
        ) from None


def _start_of(day: date, timezone: str) -> datetime:
    """Midnight of `day` in the plan's timezone, the way periods are cut."""
    return datetime.combine(day, time.min, ZoneInfo(timezone))


def _period(
    value: str, periods: list[tuple[datetime, datetime]], portal: PortalContext
) -> tuple[datetime, datetime]:
    for start, end in periods:
        if start.isoformat() == value:
            return start, end
    raise _bad("Unknown period", "Pick one of the periods the form lists.", portal)


def filter_of(
    params: dict[str, str], portal: PortalContext, choices: outcomes_choices.Choices
) -> OutcomeFilter:
    """The filter the query string asks for; a 400 page for a value no form would send."""
    status = None
    if params.get("status"):
        try:
            status = DisplayStatus(params["status"])
        except ValueError:
            raise _bad(
                "Unknown status", "Pick one of the statuses the form lists.", portal
            ) from None
    since = until = None
    if params.get("period"):
        since, until = _period(params["period"], choices.periods, portal)
    timezone = portal.fmt.timezone
    if params.get("from"):
        since = _start_of(_day(params["from"], "From", portal), timezone)
    if params.get("to"):
        until = _start_of(_day(params["to"], "To", portal) + timedelta(days=1), timezone)
    return OutcomeFilter(
        outcome=params.get("outcome") or None,
        status=status,
        since=since,
        until=until,
        search=params.get("q") or None,
        invoice_id=params.get("invoice") or None,
        line_id=params.get("line") or None,
        hide_repeats=not params.get("all") and status not in SHOWN_REPEATS,
    )


def _params(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "").strip() for name in FILTER_FIELDS}


def _query(params: dict[str, str], **extra: str) -> str:
    kept = {name: value for name, value in params.items() if value} | extra
    return urlencode(kept)


def column_title(path: str) -> str:
    """`properties.channel` -> `Channel`: the last step of a visible path, in words."""
    return humanize(path.rsplit(".", 1)[-1])


@router.get("/outcomes", response_class=HTMLResponse)
def list_outcomes(
    request: Request,
    cursor: str | None = None,
    before: str | None = None,
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    now: datetime = Depends(request_now),
) -> HTMLResponse:
    params = _params(request)
    choices = outcomes_choices.choices(session, portal.customer.id, now)
    flt = filter_of(params, portal, choices)
    try:
        shown = outcomes.page(
            session,
            portal.customer.id,
            flt,
            now,
            cursor or None,
            outcomes.PAGE_SIZE,
            before or None,
        )
    except outcomes.UnknownLine:
        raise not_found_page("invoice line", portal) from None
    except outcomes.BadCursor:
        raise _bad(
            "This page link is not valid", "Start again from the first page.", portal
        ) from None
    return render_page(
        request,
        portal,
        "portal/outcomes.html",
        {
            "page": shown,
            "params": params,
            "choices": choices,
            "statuses": list(DisplayStatus),
            "labels": LABELS,
            "columns": [(path, column_title(path)) for path in shown.columns],
            "filtered": any(v for k, v in params.items() if k != "all"),
            "export_query": _query(params),
            "next_query": _query(params, cursor=shown.next_cursor) if shown.next_cursor else None,
            "previous_query": (
                _query(params, before=shown.previous_cursor) if shown.previous_cursor else None
            ),
            "first_query": _query(params) if cursor or before else None,
            "counts": outcome_counts.counts(session, portal.customer.id, flt, now),
            "all_query": _query(params, all="1"),
            "repeats_hidden_query": _query({k: v for k, v in params.items() if k != "all"}),
            "heading": outcome_counts.line_heading(session, flt),
            "search_example": outcome_counts.search_example(session, portal.customer.id),
        },
    )


CSV_HEADER = ("Time (UTC)", "Outcome", "Status", "Invoice", "Counted once per")
CSV_MONEY = ("Adds to your bill", "Currency")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def csv_cell(text: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (numbers stay numbers)."""
    if text.startswith(_FORMULA) and not _NUMBER.match(text):
        return "'" + text
    return text


def csv_row(row: OutcomeView, columns: list[str], names: dict[str, str]) -> list[str]:
    """One outcome as the page shows it: display names, its invoice number, what it adds to
    the bill as a plain decimal (empty when it is not priced alone) and its currency."""
    money = row.money
    adds = "" if money is None or money.shown is None else format(money.shown, "f")
    cells = [
        row.occurred_at.isoformat().replace("+00:00", "Z"),
        names.get(row.outcome, humanize(row.outcome)),
        LABELS[row.status],
        str(row.invoice.number) if row.invoice and row.invoice.number is not None else "",
        row.dedupe_key,
        adds,
        money.currency.upper() if money is not None else "",
        *(row.properties.get(path, "") for path in columns),
    ]
    return [csv_cell(cell) for cell in cells]


def csv_chunks(
    engine: Engine,
    customer_id: str,
    flt: OutcomeFilter,
    now: datetime,
    columns: list[str],
    names: dict[str, str],
) -> Iterator[str]:
    """The CSV text, a chunk of rows at a time, read in a session of its own (the request's
    session is closed by the time the response streams)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*CSV_HEADER, *CSV_MONEY, *(column_title(path) for path in columns)])
    with Session(engine) as session:
        for chunk in outcomes.every_row(session, customer_id, flt, now):
            for row in chunk:
                writer.writerow(csv_row(row, columns, names))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


def _filename(portal: PortalContext, now: datetime) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", portal.customer.external_id).strip("-") or "customer"
    return f"outcomes-{name}-{now:%Y%m%d}.csv"


@router.get("/outcomes.csv")
def export_outcomes(
    request: Request,
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    engine: Engine = Depends(get_engine),
    now: datetime = Depends(request_now),
) -> StreamingResponse:
    params = _params(request)
    choices = outcomes_choices.choices(session, portal.customer.id, now)
    flt = filter_of(params, portal, choices)
    try:
        outcomes.check_invoice_filter(session, portal.customer.id, flt)
    except outcomes.UnknownLine:
        raise not_found_page("invoice line", portal) from None
    columns = outcomes.visible_columns(session, portal.customer.id)
    customer_id, filename = portal.customer.id, _filename(portal, now)
    session.close()  # ends its transaction: SQLite would not let the stream's session begin
    return StreamingResponse(
        csv_chunks(engine, customer_id, flt, now, columns, choices.display_names),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _outcome_page(
    request: Request,
    portal: PortalContext,
    session: Session,
    outcome_id: int,
    now: datetime,
    *,
    error: str | None = None,
    reason: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    row = outcomes.one(session, portal.customer.id, outcome_id, now)
    if row is None:
        raise not_found_page("outcome", portal)
    key = (portal.customer.id, row.outcome, row.period_start, row.dedupe_key)
    history = [d for d in disputes_repository.of_customer(session, portal.customer.id)]
    history = [d for d in history if disputes_repository.key_of(d) == key]
    columns = [(path, column_title(path)) for path in row.properties]
    return render_page(
        request,
        portal,
        "portal/outcomes_detail.html",
        {
            "row": row,
            "settled": row.settles_at <= now,
            "outcome_name": outcomes_choices.display_name(session, row),
            "columns": columns,
            "disputes": history,
            "error": error,
            "reason": reason,
            "max_reason": disputes.MAX_REASON,
        },
        status_code=status_code,
    )


@router.get("/outcomes/{outcome_id}", response_class=HTMLResponse)
def show_outcome(
    request: Request,
    outcome_id: int,
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    now: datetime = Depends(request_now),
) -> HTMLResponse:
    return _outcome_page(request, portal, session, outcome_id, now)


@router.post("/outcomes/{outcome_id}/dispute", response_model=None)
def dispute_outcome(
    request: Request,
    outcome_id: int,
    reason: str = Form(""),
    csrf_token: str = Form(""),
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    now: datetime = Depends(request_now),
) -> HTMLResponse | RedirectResponse:
    """File a dispute, then show the disputes list; a refusal re-shows the form saying why."""
    check_csrf(portal, csrf_token)
    try:
        disputes.file(session, portal.customer, outcome_id, reason, now)
    except ProblemError as problem:  # refused before anything was written
        if problem.status == 404:
            raise not_found_page("outcome", portal) from None
        return _outcome_page(
            request,
            portal,
            session,
            outcome_id,
            now,
            error=problem.detail,
            reason=reason,
            status_code=problem.status,
        )
    session.commit()
    return RedirectResponse("/portal/disputes?filed=1", status_code=303)
