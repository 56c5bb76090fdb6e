"""`/v1/plans`: upload rule files as immutable versions, list them, read them back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import PlainTextResponse
from pydantic import ValidationError
from sqlmodel import Session, col

from metering.catalog.plans import repository, service
from metering.catalog.plans.models import Plan, PlanVersion
from metering.catalog.plans.schemas import (
    RULE_FILE_EXAMPLE,
    PlanOut,
    PlanVersionOut,
    PlanVersionSummary,
    RuleFileUpload,
)
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.inputs import INT_MAX
from metering.platform.api.pagination import Cursor, Limit, Page, paginate
from metering.platform.api.problem_docs import problem_responses
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_session
from pricing_rules.errors import RuleFileError

router = APIRouter(
    prefix="/v1/plans",
    tags=["plans"],
    responses=problem_responses(*API_KEY_PROBLEMS, problems.NOT_FOUND),
)

VersionNumber = Annotated[int, Path(ge=1, le=INT_MAX, description="The version number.")]

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
YAML_MEDIA_TYPE = "application/yaml"

RULE_FILE_PROBLEMS = (
    problems.HTTP_BAD_REQUEST,
    problems.BODY_TOO_LARGE,
    problems.HTTP_UNSUPPORTED_MEDIA_TYPE,
    problems.INVALID_REQUEST,
    problems.INVALID_RULE_FILE,
)
"""What reading an uploaded rule file can answer (its body, media type and rules)."""


def rules_media_type(request: Request) -> str:
    """The body's media type; uploads and simulations read a rule file the same way."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def rules_text(body: bytes, media_type: str) -> str:
    if media_type in YAML_TYPES:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise problems.HTTP_BAD_REQUEST.error("The rule file is not UTF-8 text.") from None
    if media_type == "application/json":
        try:
            return RuleFileUpload.model_validate_json(body).yaml
        except ValidationError as invalid:
            raise problems.INVALID_REQUEST.error(
                'Send the rule file as JSON {"yaml": "..."}: '
                + "; ".join(error["msg"] for error in invalid.errors())
            ) from None
    raise problems.HTTP_UNSUPPORTED_MEDIA_TYPE.error(
        f"Content-Type '{media_type or 'missing'}' is not accepted; send application/yaml "
        'or application/json {"yaml": "..."}.',
    )


def invalid_rules_problem(
    error: RuleFileError, problem: problems.ProblemType = problems.INVALID_RULE_FILE
) -> ProblemError:
    """A 422 listing every error of the rule file (or override) with its line and column."""
    items = [
        {"file": e.file, "line": e.line, "column": e.column, "message": e.message}
        for e in error.errors
    ]
    return problem.error("\n".join(str(e) for e in error.errors), extra={"errors": items})


def version_out(plan: Plan, version: PlanVersion) -> PlanVersionOut:
    return PlanVersionOut(
        id=version.id,
        plan_id=plan.id,
        plan=plan.slug,
        version=version.version,
        created_at=version.created_at,
        yaml=version.yaml,
        rules=version.parsed,
    )


@router.get(
    "",
    response_model=Page[PlanOut],
    summary="List plans",
    responses=problem_responses(problems.INVALID_CURSOR),
)
def list_plans(
    cursor: Cursor = None,
    limit: Limit = 100,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[PlanOut]:
    plans, next_cursor = paginate(
        session, repository.plans_of(vendor.id), col(Plan.id), cursor, limit
    )
    latest = repository.latest_numbers(session, (plan.id for plan in plans))
    data = [
        PlanOut(
            id=plan.id,
            slug=plan.slug,
            latest_version=latest.get(plan.id),
            created_at=plan.created_at,
        )
        for plan in plans
    ]
    return Page[PlanOut](data=data, next_cursor=next_cursor)


@router.get("/{plan_ref}", response_model=PlanOut, summary="Get a plan by id or slug")
def get_plan(
    plan_ref: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> PlanOut:
    plan = service.plan_or_404(session, vendor, plan_ref)
    latest = repository.latest_numbers(session, [plan.id]).get(plan.id)
    return PlanOut(id=plan.id, slug=plan.slug, latest_version=latest, created_at=plan.created_at)


@router.get(
    "/{plan_ref}/versions",
    response_model=Page[PlanVersionSummary],
    summary="List a plan's versions",
    responses=problem_responses(problems.INVALID_CURSOR),
)
def list_versions(
    plan_ref: str,
    cursor: Cursor = None,
    limit: Limit = 100,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[PlanVersionSummary]:
    plan = service.plan_or_404(session, vendor, plan_ref)
    versions, next_cursor = paginate(
        session, repository.versions_of(plan.id), col(PlanVersion.version), cursor, limit
    )
    data = [
        PlanVersionSummary(id=v.id, plan_id=plan.id, version=v.version, created_at=v.created_at)
        for v in versions
    ]
    return Page[PlanVersionSummary](data=data, next_cursor=next_cursor)


class YamlResponse(PlainTextResponse):
    """A rule file as uploaded, documented and sent as `application/yaml`."""

    media_type = YAML_MEDIA_TYPE


def _yaml_response(version: PlanVersion) -> YamlResponse:
    return YamlResponse(version.yaml)


_YAML_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {YAML_MEDIA_TYPE: {"schema": {"type": "string"}, "example": RULE_FILE_EXAMPLE}}
    }
}


@router.get(
    "/{plan_ref}/versions/{number}.yaml",
    response_class=YamlResponse,
    summary="Get a version's YAML, as uploaded",
    responses=_YAML_DOC,
)
def get_version_yaml(
    plan_ref: str,
    number: VersionNumber,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> YamlResponse:
    plan = service.plan_or_404(session, vendor, plan_ref)
    return _yaml_response(service.version_or_404(session, plan, number))


def _wants_yaml(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return any(media in accept for media in YAML_TYPES)


@router.get(
    "/{plan_ref}/versions/{number}",
    response_model=PlanVersionOut,
    summary="Get a version (JSON, or its YAML with Accept: application/yaml)",
    responses=_YAML_DOC,
)
def get_version(
    plan_ref: str,
    number: VersionNumber,
    request: Request,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> PlanVersionOut | YamlResponse:
    plan = service.plan_or_404(session, vendor, plan_ref)
    version = service.version_or_404(session, plan, number)
    if _wants_yaml(request):
        return _yaml_response(version)
    return version_out(plan, version)
