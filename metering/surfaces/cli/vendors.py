"""`metering vendors ...`: create vendors (an operator's task; there is no signup API)."""

from __future__ import annotations

import typer

from metering.catalog.vendors import service
from metering.surfaces.cli.db import open_session

vendors_app = typer.Typer(help="Vendors and their credentials.", no_args_is_help=True)


@vendors_app.command("create")
def create(name: str = typer.Argument(..., help="The vendor's display name.")) -> None:
    """Create a vendor; print its API key and webhook signing secret, once."""
    with open_session() as session:
        created = service.create_vendor(session, name)
        session.commit()
    typer.echo(f"vendor id:       {created.vendor.id}")
    typer.echo(f"API key:         {created.api_key}")
    typer.echo(f"signing secret:  {created.signing_secret}")
    typer.echo(f"webhook:         POST /v1/webhooks/{created.vendor.id}/events")
    typer.secho(
        "Store the API key now: only its hash is kept, so it cannot be shown again.",
        fg=typer.colors.YELLOW,
    )
