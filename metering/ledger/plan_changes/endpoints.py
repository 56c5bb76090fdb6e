"""The two calls that change plans: subscribing a customer, and uploading a version that
moves a plan's subscribers. Both derive outcomes again, so they live with the ledger; their
paths and tags are the customers' and the plans' own."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import Session

from metering.catalog.customers import service as customers
from metering.catalog.customers.accounts import ProviderAccounts, provider_accounts
from metering.catalog.customers.endpoints import customer_out
from metering.catalog.customers.schemas import CustomerOut
from metering.catalog.plans import service as plans
from metering.catalog.plans.endpoints import (
    RULE_FILE_PROBLEMS,
    invalid_rules_problem,
    rules_media_type,
    rules_text,
    version_out,
)
from metering.catalog.plans.schemas import PlanVersionOut, rule_file_request_body
from metering.catalog.subscriptions.schemas import ApplyMode, PlanChange
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.ledger.plan_changes import service
from metering.platform.api import problems
from metering.platform.api.body import read_body
from metering.platform.api.deps import app_settings
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.settings import Settings
from pricing_rules.errors import RuleFileError

router = APIRouter()


@router.post(
    "/v1/plans",
    tags=["plans"],
    response_model=PlanVersionOut,
    status_code=201,
    summary="Upload a rule file as a new plan version",
    openapi_extra=rule_file_request_body(),
    responses={
        200: {"description": "This exact YAML was already stored as this version (no change)."},
        **problem_responses(
            *API_KEY_PROBLEMS,
            *RULE_FILE_PROBLEMS,
            problems.NOT_FOUND,
            problems.PLAN_VERSION_EXISTS,
        ),
    },
)
async def upload_plan(
    request: Request,
    response: Response,
    filename: str = Query("rules.yaml", description="File name used in error messages."),
    apply: ApplyMode = Query(
        ApplyMode.NEXT_PERIOD,
        description="Move the plan's subscribers on older versions to this version: at the "
        "end of their current period (`next_period`), now (`immediately`, their current "
        "period is split), or not at all (`none`).",
    ),
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> PlanVersionOut:
    """The plan and version come from the file's `plan:` and `version:`. Every error is
    listed with its line and column, as `metering rules check` prints them."""
    body = await read_body(request, settings.max_body_bytes)
    text = rules_text(body, rules_media_type(request))
    try:
        result = plans.upload(session, vendor, text, filename)
    except RuleFileError as error:
        raise invalid_rules_problem(error) from None
    service.apply_version(session, vendor, result.version, apply)
    session.commit()
    if not result.created:
        response.status_code = 200
    return version_out(result.plan, result.version)


@router.post(
    "/v1/customers/{customer_id}/plan",
    tags=["customers"],
    response_model=CustomerOut,
    summary="Subscribe to a plan or change plan",
    responses=problem_responses(
        *API_KEY_PROBLEMS,
        problems.NOT_FOUND,
        problems.PLAN_WITHOUT_VERSION,
        problems.SUBSCRIPTIONS_OVERLAP,
        problems.INVALID_REQUEST,
    ),
)
def change_plan(
    customer_id: str,
    data: PlanChange,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    accounts: ProviderAccounts = Depends(provider_accounts),
) -> CustomerOut:
    """A first subscription starts at `starts_at` (default: the start of the plan's current
    period). A change takes effect at the end of the current period (`next_period`, shown
    as `pending_change` until then) or now (`immediately`: the period is split in two, each
    part priced by its own version). The same version again changes nothing. Stored events
    in the time the change reaches are matched again, in this transaction."""
    customer = customers.get_or_404(session, vendor, customer_id)
    service.subscribe(
        session, vendor, customer, data.plan, data.version, data.effective, data.starts_at
    )
    session.commit()
    return customer_out(session, customer, accounts)
