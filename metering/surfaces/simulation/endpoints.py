"""`POST /v1/plans/{plan}/simulate`: a proposed rule file against the plan's stored history.

The body is the proposed YAML, sent like an upload (`application/yaml`, or JSON
`{"yaml": ...}`); nothing is stored. The simulation reads through its own read-only
connection in a worker thread, so a long range neither blocks the event loop nor holds the
request session's transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from metering.catalog.plans import service as plans
from metering.catalog.plans.endpoints import (
    RULE_FILE_PROBLEMS,
    invalid_rules_problem,
    rules_media_type,
    rules_text,
)
from metering.catalog.plans.models import Plan
from metering.catalog.plans.schemas import rule_file_request_body
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.body import read_body
from metering.platform.api.deps import app_settings
from metering.platform.api.inputs import CalendarTime
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings
from metering.surfaces.simulation.readonly import read_only_session
from metering.surfaces.simulation.schemas import SimulationOut, simulation_out
from metering.surfaces.simulation.service import SimulationError, simulate
from pricing_rules.errors import RuleFileError
from pricing_rules.loader import load_rules
from pricing_rules.rules import RuleFile

MAX_RANGE = timedelta(days=366)
"""The longest range one request may simulate; longer ones belong to the CLI."""

router = APIRouter(
    prefix="/v1/plans", tags=["plans"], responses=problem_responses(*API_KEY_PROBLEMS)
)


def _check_range(start: datetime, end: datetime) -> None:
    for name, value in (("from", start), ("to", end)):
        if value.tzinfo is None:
            raise problems.INVALID_SIMULATION_RANGE.error(
                f"'{name}' needs a timezone, such as 2026-11-01T00:00:00Z."
            )
    if start >= end:
        raise problems.INVALID_SIMULATION_RANGE.error("'from' must be before 'to'.")
    if end - start > MAX_RANGE:
        raise problems.INVALID_SIMULATION_RANGE.error(
            f"The range is {(end - start).days} days; at most {MAX_RANGE.days} days can be "
            "simulated per request (use `metering rules simulate` for longer ones)."
        )


def _run(url: str, plan_id: str, rules: RuleFile, start: datetime, end: datetime) -> SimulationOut:
    with read_only_session(url) as session:
        plan = session.get(Plan, plan_id)
        if plan is None:  # deleted since the request looked it up
            raise problems.HTTP_NOT_FOUND.error(f"No plan '{plan_id}'.")
        try:
            return simulation_out(simulate(session, plan, rules, start, end, utcnow()))
        except SimulationError as error:
            raise problems.CANNOT_SIMULATE.error(str(error)) from None


@router.post(
    "/{plan_ref}/simulate",
    response_model=SimulationOut,
    summary="Price the plan's stored history under a proposed rule file",
    openapi_extra=rule_file_request_body(),
    responses=problem_responses(
        *RULE_FILE_PROBLEMS,
        problems.NOT_FOUND,
        problems.HTTP_NOT_FOUND,
        problems.INVALID_SIMULATION_RANGE,
        problems.CANNOT_SIMULATE,
    ),
)
async def simulate_plan(
    plan_ref: str,
    request: Request,
    start: CalendarTime = Query(alias="from", description="Start of the range (ISO 8601)."),
    end: CalendarTime = Query(alias="to", description="End of the range, exclusive."),
    filename: str = Query("proposed.yaml", description="File name used in error messages."),
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> SimulationOut:
    """Every period of the plan overlapping [from, to) is priced for each subscriber under
    the versions in force (as the invoices bill it) and under the proposed file: amounts per
    customer and in total, and the events whose treatment changes. Nothing is written."""
    plan_id = plans.plan_or_404(session, vendor, plan_ref).id
    session.rollback()  # nothing more to read on the request's own connection
    _check_range(start, end)
    text = rules_text(await read_body(request, settings.max_body_bytes), rules_media_type(request))
    try:
        rules = load_rules(text, filename)
    except RuleFileError as error:
        raise invalid_rules_problem(error) from None
    return await run_in_threadpool(_run, settings.database_url, plan_id, rules, start, end)
