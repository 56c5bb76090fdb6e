"""`metering portal link CUSTOMER`: a fresh billing-portal sign-in link, for support or demos.

The same link `POST /v1/portal_sessions` returns: single use, valid 15 minutes.
"""

from __future__ import annotations

import typer
from rich.console import Console

from metering.catalog.vendors.service import VendorNotFound
from metering.platform.db.types import utcnow
from metering.platform.settings import get_settings
from metering.surfaces.cli.common import fail, find_customer
from metering.surfaces.cli.db import open_session
from metering.surfaces.portal import service

portal_app = typer.Typer(help="The customer billing portal.", no_args_is_help=True)
DEFAULT_BASE = "http://127.0.0.1:8000"


@portal_app.command("link")
def link(
    customer: str = typer.Argument(..., help="The customer's external id (as in events)."),
    vendor: str | None = typer.Option(None, help="Vendor id or name, when several have it."),
    base_url: str | None = typer.Option(
        None, help=f"Where the service is reached (METERING_PORTAL_BASE_URL, else {DEFAULT_BASE})."
    ),
    return_url: str | None = typer.Option(None, help="Shown as 'Back to <vendor>'."),
) -> None:
    """Print a single-use sign-in link to CUSTOMER's billing portal."""
    settings = get_settings()
    base = (base_url or settings.portal_base_url or DEFAULT_BASE).rstrip("/")
    with open_session() as session:
        try:
            found = find_customer(session, customer, vendor)
        except VendorNotFound as error:
            raise fail(str(error)) from None
        made = service.create_link(
            session, found, return_url, utcnow(), settings.portal_link_lifetime
        )
        session.commit()
    console = Console(soft_wrap=True, highlight=False)
    console.print(f"{base}/portal/session/{made.token}", markup=False)
    expires = made.row.expires_at.isoformat(timespec="seconds")
    console.print(f"opens once, until {expires}", style="dim", markup=False)
