"""Everything the portal adds to the app: its API, its pages, static files, page errors."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from metering.platform.web.templating import mount_static
from metering.surfaces.portal import (
    credits_pages,
    disputes_pages,
    endpoints,
    invoices_pages,
    outcomes_pages,
    overview_pages,
    payment_pages,
    session_pages,
    spend_limit_pages,
)
from metering.surfaces.portal.auth import require_csrf
from metering.surfaces.portal.errors import install_page_handlers


def install_portal(app: FastAPI) -> None:
    """Add the portal to `app` (after `install_problem_handlers`)."""
    app.include_router(endpoints.router)
    app.include_router(session_pages.router)
    # Signed-in pages: every unsafe request must carry the session's CSRF token.
    guarded = [Depends(require_csrf)]
    for pages in (
        overview_pages,
        invoices_pages,
        credits_pages,
        payment_pages,
        outcomes_pages,
        disputes_pages,
        spend_limit_pages,
    ):
        app.include_router(pages.router, dependencies=guarded)
    mount_static(app)
    install_page_handlers(app)
