"""Errors on portal pages are HTML pages a person can act on, never JSON or a stack trace.

Handlers raise `PortalPageError`; `install_page_handlers` also turns the API's problem
handlers (unknown route, bad query, crash, database fault, any `ProblemError`) into pages
for paths under `/portal` and the vendor's pages under `/vendor/`, and leaves every other
path to the RFC 9457 handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from metering.platform.api.problem_handlers import database_problem, validation_problem
from metering.platform.api.problems import ProblemError
from metering.platform.web.templating import render

if TYPE_CHECKING:
    from metering.surfaces.portal.auth import PortalContext
    from metering.surfaces.portal.branding import Branding

PORTAL_PREFIX = "/portal"
PAGE_PREFIXES = (PORTAL_PREFIX, "/vendor/")
"""Paths answered with HTML pages, errors included."""
Handler = Callable[[Request, Exception], Awaitable[Response]]


class PortalPageError(Exception):
    """A page saying what happened (`title`) and what to do (`message`), with `status`."""

    def __init__(
        self,
        status: int,
        title: str,
        message: str,
        *,
        portal: PortalContext | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.portal = portal
        self.headers = headers or {}
        # Signed-out pages that know the vendor (a used or expired link) show its brand and
        # a way back to its app, where a new link is made.
        self.branding: Branding | None = None
        self.return_url: str | None = None


def not_found_page(kind: str, portal: PortalContext | None = None) -> PortalPageError:
    """The same 404 whether the object is missing or belongs to another customer."""
    return PortalPageError(
        404,
        "Not found",
        f"There is no such {kind} in your account. Check the address, or start again from "
        "the overview.",
        portal=portal,
    )


def page_response(request: Request, error: PortalPageError) -> Response:
    context: dict[str, Any] = {"error": error}
    if error.portal is not None:
        context["portal"] = error.portal
        context["fmt"] = error.portal.fmt
    elif error.branding is not None:
        context["branding"] = error.branding
    return render(
        request, "portal/message.html", context, status_code=error.status, headers=error.headers
    )


def _as_page(exc: Exception) -> PortalPageError:
    if isinstance(exc, PortalPageError):
        return exc
    if isinstance(exc, ProblemError):
        return PortalPageError(exc.status, exc.title, exc.detail, headers=exc.headers)
    unavailable = database_problem(exc)
    if unavailable is not None:
        return PortalPageError(
            unavailable.status,
            "Briefly unavailable",
            "We could not reach our database just now. Reload the page in a few seconds.",
            headers=unavailable.headers,
        )
    if isinstance(exc, RequestValidationError):
        problem = validation_problem(exc)
        return PortalPageError(
            problem.status, "This address is not valid", f"{problem.detail}. Go back and retry."
        )
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            return PortalPageError(
                404, "Page not found", "There is no page at this address in the billing portal."
            )
        detail = exc.detail if isinstance(exc.detail, str) else "The request was refused."
        return PortalPageError(exc.status_code, "Request refused", detail)
    return PortalPageError(
        500,
        "Something went wrong on our side",
        "The error has been logged. Reload the page in a moment; if it persists, contact "
        "your vendor.",
    )


def _wrap(original: Handler | None) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(PAGE_PREFIXES) or original is None:
            expected = PortalPageError | ProblemError | StarletteHTTPException
            if original is not None and not isinstance(exc, expected | RequestValidationError):
                await original(request, exc)  # the API's handler logs the crash
            return page_response(request, _as_page(exc))
        return await original(request, exc)

    return handler


def install_page_handlers(app: FastAPI) -> None:
    """Render errors under `/portal` as pages; call after `install_problem_handlers`."""
    handlers: dict[Any, Handler] = app.exception_handlers  # type: ignore[assignment]
    app.add_exception_handler(PortalPageError, _wrap(None))
    kinds = (ProblemError, RequestValidationError, StarletteHTTPException, DBAPIError, Exception)
    for kind in kinds:
        app.add_exception_handler(kind, _wrap(handlers.get(kind)))
