"""Everything the portal adds to the app: its API, its pages, static files, page errors."""

from __future__ import annotations

from fastapi import FastAPI

from metering.portal import (
    disputes_pages,
    endpoints,
    invoices_pages,
    outcomes_pages,
    overview_pages,
    session_pages,
)
from metering.portal.errors import install_page_handlers
from metering.web.templating import mount_static


def install_portal(app: FastAPI) -> None:
    """Add the portal to `app` (after `install_problem_handlers`)."""
    app.include_router(endpoints.router)
    app.include_router(session_pages.router)
    app.include_router(overview_pages.router)
    app.include_router(invoices_pages.router)
    app.include_router(outcomes_pages.router)
    app.include_router(disputes_pages.router)
    mount_static(app)
    install_page_handlers(app)
