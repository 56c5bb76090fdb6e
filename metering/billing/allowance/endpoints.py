"""`/v1/customers/{id}/allowance`, `POST /v1/allowance`, `/v1/customers/{id}/spend_limit`."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from metering.billing.allowance import limits_service, service
from metering.billing.allowance.schemas import (
    AllowanceBatch,
    AllowanceBatchOut,
    AllowanceItem,
    AllowanceOut,
    SpendLimitIn,
    SpendLimitOut,
)
from metering.catalog.customers import service as customer_service
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, api_key, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.clock import request_now
from metering.platform.api.problem_docs import problem_responses
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_engine, get_session

router = APIRouter(tags=["allowance"], responses=problem_responses(*API_KEY_PROBLEMS))
ALLOWANCE_PROBLEMS = (problems.NOT_FOUND, problems.NO_SUBSCRIPTION, problems.INVALID_REQUEST)


@router.get(
    "/v1/customers/{customer_id}/allowance",
    response_model=AllowanceOut,
    summary="Check a customer's allowance for one outcome",
    responses=problem_responses(*ALLOWANCE_PROBLEMS),
)
async def get_allowance(
    request: Request,
    customer_id: str,
    outcome: str = Query(min_length=1, max_length=200, description="An outcome of the plan."),
    key: str = Depends(api_key),
    now: datetime = Depends(request_now),
) -> AllowanceOut:
    """Whether one more `outcome` may be billed now (`ok`, `warning`, `blocked`), what is
    left before the nearest limit, the credit balance and the open period's spend. Reads
    running tallies: cheap enough to call before every piece of billable work."""
    # Async, with the key check and the reads in one worker thread (`service.check`).
    found = await run_in_threadpool(
        service.check, get_engine(request), key, [customer_id], outcome, now
    )
    answer = found[customer_id]
    if isinstance(answer, ProblemError):
        raise answer
    return answer


@router.post(
    "/v1/allowance",
    response_model=AllowanceBatchOut,
    summary="Check the allowance of up to 100 customers",
    responses=problem_responses(problems.INVALID_REQUEST),
)
async def batch_allowance(
    request: Request,
    data: AllowanceBatch,
    key: str = Depends(api_key),
    now: datetime = Depends(request_now),
) -> AllowanceBatchOut:
    """One item per distinct customer id, in the order sent: its allowance, or the problem (an
    unknown customer, no plan in force, an outcome its plan lacks) that kept it from one."""
    found = await run_in_threadpool(
        service.check, get_engine(request), key, data.customer_ids, data.outcome, now
    )
    items = [
        AllowanceItem(customer_id=customer_id, problem=answer.body())
        if isinstance(answer, ProblemError)
        else AllowanceItem(customer_id=customer_id, allowance=answer)
        for customer_id, answer in found.items()
    ]
    return AllowanceBatchOut(data=items)


@router.put(
    "/v1/customers/{customer_id}/spend_limit",
    response_model=SpendLimitOut,
    summary="Set a customer's spend limit",
    responses=problem_responses(problems.NOT_FOUND, problems.INVALID_REQUEST),
)
def put_spend_limit(
    customer_id: str,
    data: SpendLimitIn,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    now: datetime = Depends(request_now),
) -> SpendLimitOut:
    """A limit on the customer's spend per period, at most the plan's maximum; with
    `on_reach: block` the outcomes past it are `over_limit` and not billed."""
    customer = customer_service.get_or_404(session, vendor, customer_id)
    out = limits_service.set_spend_limit(session, customer, data, now)
    session.commit()
    return out


@router.delete(
    "/v1/customers/{customer_id}/spend_limit",
    response_model=SpendLimitOut,
    summary="Remove a customer's spend limit",
    responses=problem_responses(problems.NOT_FOUND),
)
def delete_spend_limit(
    customer_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    now: datetime = Depends(request_now),
) -> SpendLimitOut:
    customer = customer_service.get_or_404(session, vendor, customer_id)
    out = limits_service.clear_spend_limit(session, customer, now)
    session.commit()
    return out
