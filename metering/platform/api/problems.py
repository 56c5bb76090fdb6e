"""RFC 9457 problem details: the one shape of every error response.

Endpoints raise `ProblemError`; `install_problem_handlers` also renders FastAPI's request
validation errors, unknown routes, wrong methods and unexpected crashes the same way, so a
client parses one format and never sees a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"

logger = logging.getLogger(__name__)


class Problem(BaseModel):
    """The RFC 9457 document (documentation only; responses are built by `ProblemError`)."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str


class ProblemError(Exception):
    """An error the client can act on, rendered as `application/problem+json`."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        type: str = "about:blank",
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The problem document; extension members never override the standard ones."""
        document: dict[str, Any] = dict(self.extra)
        document.update(type=self.type, title=self.title, status=self.status, detail=self.detail)
        return document


def problem_type(slug: str) -> str:
    """A problem type URI (relative, resolved against the API's own address)."""
    return f"/problems/{slug}"


def not_found(kind: str, identifier: str) -> ProblemError:
    """The same 404 whether the object does not exist or belongs to another vendor."""
    return ProblemError(
        404, "Not Found", f"No {kind} '{identifier}'.", type=problem_type("not-found")
    )


def problem_response(problem: ProblemError) -> JSONResponse:
    return JSONResponse(
        problem.body(), status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


def _status_title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def field_name(loc: Sequence[str | int]) -> str:
    """`("body", "events", 3, "id")` -> `events[3].id`; query and path fields keep their source."""
    parts = list(loc)
    prefix = ""
    if parts and parts[0] == "body":
        parts = parts[1:]
    elif parts and parts[0] in ("query", "path", "header", "cookie"):
        prefix = f"{parts[0]} parameter "
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return prefix + (text or "body")


def validation_problem(exc: RequestValidationError) -> ProblemError:
    """A 422 naming every invalid field; malformed JSON is a 400 of its own."""
    errors = list(exc.errors())
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", "invalid JSON")
            return ProblemError(
                400,
                "Malformed JSON",
                f"The body is not valid JSON: {reason} at character {error['loc'][-1]}.",
                type=problem_type("malformed-json"),
            )
    items = [{"field": field_name(error["loc"]), "message": error["msg"]} for error in errors]
    detail = "; ".join(f"{item['field']}: {item['message']}" for item in items)
    return ProblemError(
        422,
        "Invalid Request",
        detail,
        type=problem_type("invalid-request"),
        extra={"errors": items},
    )


async def _problem_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(exc)


async def _validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(validation_problem(exc))


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    title = _status_title(status)
    detail = exc.detail if isinstance(exc.detail, str) else title
    if status == 404 and detail == title:
        detail = f"No route for {request.method} {request.url.path}."
    elif status == 405 and detail == title:
        detail = f"{request.method} is not allowed on {request.url.path}."
    problem = ProblemError(status, title, detail, headers=exc.headers)
    return problem_response(problem)


async def _crash_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    problem = ProblemError(
        500,
        "Internal Server Error",
        "An unexpected error occurred; it has been logged. Retrying the request is safe.",
    )
    return problem_response(problem)


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error of `app` as an RFC 9457 problem."""
    app.add_exception_handler(ProblemError, _problem_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(Exception, _crash_handler)


def _problem_example(status: int, title: str, detail: str) -> dict[str, Any]:
    return {
        "description": title,
        "content": {
            PROBLEM_JSON: {
                "schema": Problem.model_json_schema(),
                "example": {
                    "type": "about:blank",
                    "title": title,
                    "status": status,
                    "detail": detail,
                },
            }
        },
    }


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem_example(400, "Malformed JSON", "The body is not valid JSON: Expecting value."),
    401: _problem_example(
        401, "Unauthorized", "Missing or invalid credentials (API key or webhook signature)."
    ),
    404: _problem_example(404, "Not Found", "No customer 'cus_01j9...'."),
    409: _problem_example(
        409, "Conflict", "Event 'evt_1' was already stored with different content."
    ),
    413: _problem_example(
        413, "Content Too Large", "The body exceeds the limit of 5242880 bytes (5 MiB)."
    ),
    422: _problem_example(422, "Invalid Request", "external_id: Field required"),
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented problem responses for `statuses`, for a route's `responses=`."""
    return {status: PROBLEM_RESPONSES[status] for status in statuses}
