"""Every error answered as an RFC 9457 problem, so a client parses one format.

`install_problem_handlers` renders a raised `ProblemError`, and also FastAPI's request
validation errors, unknown routes, wrong methods and unexpected crashes, each as its
catalogue type; a client never sees a stack trace.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from metering.platform.api import problems
from metering.platform.api.inputs import MAX_JSON_DEPTH, field_name
from metering.platform.api.problems import PROBLEM_JSON, RETRY_AFTER_SECONDS, ProblemError
from metering.platform.db.faults import transient

logger = logging.getLogger(__name__)


def problem_response(problem: ProblemError) -> JSONResponse:
    return JSONResponse(
        problem.body(), status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


def validation_problem(exc: RequestValidationError) -> ProblemError:
    """A 422 naming every invalid field; malformed JSON is a 400 of its own."""
    errors = list(exc.errors())
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", "invalid JSON")
            return problems.MALFORMED_JSON.error(
                f"The body is not valid JSON: {reason} at character {error['loc'][-1]}."
            )
    items = [{"field": field_name(error["loc"]), "message": error["msg"]} for error in errors]
    detail = "; ".join(f"{item['field']}: {item['message']}" for item in items)
    return problems.INVALID_REQUEST.error(detail, extra={"errors": items})


async def _problem_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(exc)


def not_json(request: Request, exc: RequestValidationError) -> ProblemError | None:
    """A 415 for a body sent to a JSON route as something else (form data, text, no
    Content-Type: what `curl -d` sends). FastAPI leaves such a body unread, as bytes, and
    would only say that it is not an object."""
    if not (isinstance(exc.body, bytes) and exc.body):
        return None
    if not any(tuple(error["loc"]) == ("body",) for error in exc.errors()):
        return None
    media_type = request.headers.get("content-type") or "none"
    return problems.HTTP_UNSUPPORTED_MEDIA_TYPE.error(
        f"Send the body as JSON with 'Content-Type: application/json' (Content-Type was "
        f"'{media_type}')."
    )


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(not_json(request, exc) or validation_problem(exc))


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, RecursionError):  # FastAPI could not decode the body
        return problem_response(
            problems.INVALID_REQUEST.error(
                f"body: JSON nested far more than {MAX_JSON_DEPTH} levels deep, the most a "
                "field's value may nest"
            )
        )
    kind = problems.plain(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) else kind.title
    if kind is problems.HTTP_NOT_FOUND and detail == kind.title:
        detail = f"No route for {request.method} {request.url.path}."
    elif kind is problems.HTTP_METHOD_NOT_ALLOWED and detail == kind.title:
        detail = f"{request.method} is not allowed on {request.url.path}."
    return problem_response(kind.error(detail, headers=exc.headers))


def database_problem(exc: Exception) -> ProblemError | None:
    """The 503 for a database fault a client can retry (`faults.transient`), else None."""
    if not transient(exc):
        return None
    return problems.DATABASE_UNAVAILABLE.error(
        "The database is unreachable or the connection to it was lost. Send the request "
        f"again in {RETRY_AFTER_SECONDS} seconds."
    )


def log_failure(request: Request, exc: Exception) -> None:
    """The one log line, with its traceback, of a request that failed on our side."""
    what = "database fault" if transient(exc) else "unhandled error"
    logger.error("%s on %s %s", what, request.method, request.url.path, exc_info=exc)


async def _crash_handler(request: Request, exc: Exception) -> JSONResponse:
    log_failure(request, exc)
    problem = database_problem(exc) or problems.HTTP_INTERNAL_SERVER_ERROR.error(
        "An unexpected error occurred; it has been logged. Retrying the request is safe."
    )
    return problem_response(problem)


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error of `app` as an RFC 9457 problem."""
    app.add_exception_handler(ProblemError, _problem_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    # Handled where they are raised, so the server does not log them a second time.
    app.add_exception_handler(DBAPIError, _crash_handler)
    app.add_exception_handler(Exception, _crash_handler)
