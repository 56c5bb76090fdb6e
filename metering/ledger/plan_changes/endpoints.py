"""The two calls that change plans: subscribing a customer, and uploading a version that
moves a plan's subscribers. Both derive outcomes again, so they live with the ledger; their
paths and tags are the customers' and the plans' own."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import Session, col

from metering.catalog.customers import service as customers
from metering.catalog.customers.accounts import ProviderAccounts, provider_accounts
from metering.catalog.customers.endpoints import customer_out
from metering.catalog.customers.schemas import CustomerOut
from metering.catalog.overrides import service as overrides
from metering.catalog.overrides.models import CustomerOverride
from metering.catalog.overrides.schemas import OverrideOut, override_request_body
from metering.catalog.plans import service as plans
from metering.catalog.plans.endpoints import (
    RULE_FILE_PROBLEMS,
    YAML_TYPES,
    VersionNumber,
    invalid_rules_problem,
    rules_media_type,
    rules_text,
    version_out,
)
from metering.catalog.plans.schemas import PlanVersionOut, rule_file_request_body
from metering.catalog.subscriptions.schemas import ApplyMode, Effective, PlanChange
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.ledger.plan_changes import service
from metering.platform.api import problems
from metering.platform.api.body import read_body
from metering.platform.api.deps import app_settings
from metering.platform.api.inputs import Fault, Instant, invalid_fields
from metering.platform.api.pagination import Cursor, Limit, Page, paginate
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


OVERRIDE_PROBLEMS = (
    problems.HTTP_BAD_REQUEST,
    problems.BODY_TOO_LARGE,
    problems.HTTP_UNSUPPORTED_MEDIA_TYPE,
    problems.INVALID_OVERRIDE,
)


def _override_text(body: bytes, media_type: str) -> str:
    """The document as sent: YAML, or JSON (which the YAML reader reads as well)."""
    if media_type not in (*YAML_TYPES, "application/json"):
        raise problems.HTTP_UNSUPPORTED_MEDIA_TYPE.error(
            f"Send the override as application/yaml or application/json, not {media_type!r}."
        )
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise problems.HTTP_BAD_REQUEST.error("The override is not UTF-8 text.") from None


def _when(effective: Effective | None, effective_from: datetime | None) -> Effective | datetime:
    """One of the two ways to say when an override starts; `next_period` when neither."""
    if effective is not None and effective_from is not None:
        message = "send either effective (next_period or immediately) or effective_from, not both"
        raise invalid_fields([Fault("query parameter effective_from", message)])
    return effective_from or effective or Effective.NEXT_PERIOD


@router.post(
    "/v1/customers/{customer_id}/overrides",
    tags=["customers"],
    response_model=OverrideOut,
    status_code=201,
    summary="Give a customer prices of its own",
    openapi_extra=override_request_body(),
    responses=problem_responses(
        *API_KEY_PROBLEMS,
        *OVERRIDE_PROBLEMS,
        problems.NOT_FOUND,
        problems.NO_SUBSCRIPTION,
        problems.INVALID_REQUEST,
    ),
)
async def create_override(
    customer_id: str,
    request: Request,
    effective: Effective | None = Query(
        None,
        description="From the end of the customer's current period (`next_period`, the "
        "default), or now (`immediately`: the current period is split, and its events derived "
        "again). Not with `effective_from`.",
    ),
    effective_from: Instant | None = Query(
        None,
        description="From this instant instead (RFC 3339 with its timezone, as a subscription's "
        "`starts_at`): later than now, the switch waits for it; earlier, within the "
        "subscription in force and after the last invoiced period, the period containing it "
        "is split there and its events derived again. Not with `effective`.",
        examples=["2026-11-15T00:00:00Z"],
    ),
    filename: str = Query("override.yaml", description="File name used in error messages."),
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> OverrideOut:
    """Override named charges of the customer's plan (their prices, tiers, prices by value,
    free units) and the plan's minimum and maximum. Each override is a new immutable
    version over the plan version the customer is on, replacing the previous one; every
    mistake is listed with its line and column."""
    when = _when(effective, effective_from)
    body = await read_body(request, settings.max_body_bytes)
    text = _override_text(body, rules_media_type(request))
    customer = customers.get_or_404(session, vendor, customer_id)
    try:
        row = service.give_override(session, customer, text, filename, when)
    except RuleFileError as error:
        raise invalid_rules_problem(error, problems.INVALID_OVERRIDE) from None
    session.commit()
    return overrides.override_out(session, row)


@router.get(
    "/v1/customers/{customer_id}/overrides",
    tags=["customers"],
    response_model=Page[OverrideOut],
    summary="List a customer's overrides",
    responses=problem_responses(*API_KEY_PROBLEMS, problems.NOT_FOUND, problems.INVALID_CURSOR),
)
def list_overrides(
    customer_id: str,
    cursor: Cursor = None,
    limit: Limit = 100,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[OverrideOut]:
    """Oldest first, each with the plan version's rules (`base`), the document, and the
    rules the customer is billed by under it (`merged`)."""
    customer = customers.get_or_404(session, vendor, customer_id)
    rows, next_cursor = paginate(
        session,
        overrides.of_customer(customer),
        col(CustomerOverride.version),
        cursor,
        limit,
    )
    return Page[OverrideOut](
        data=[overrides.override_out(session, row) for row in rows], next_cursor=next_cursor
    )


@router.get(
    "/v1/customers/{customer_id}/overrides/{number}",
    tags=["customers"],
    response_model=OverrideOut,
    summary="One override of a customer, with its base and merged rules",
    responses=problem_responses(*API_KEY_PROBLEMS, problems.NOT_FOUND),
)
def get_override(
    customer_id: str,
    number: VersionNumber,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> OverrideOut:
    customer = customers.get_or_404(session, vendor, customer_id)
    return overrides.override_out(session, overrides.override_or_404(session, customer, number))
