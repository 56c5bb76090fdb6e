"""`metering vendors ...`: create vendors (an operator's task; there is no signup API)."""

from __future__ import annotations

import json

import typer

from metering.catalog.vendors import service
from metering.surfaces.cli.db import open_session

vendors_app = typer.Typer(help="Vendors and their credentials.", no_args_is_help=True)


@vendors_app.command("create")
def create(
    name: str = typer.Argument(..., help="The vendor's display name."),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object: ids, API key and signing secret."
    ),
) -> None:
    """Create a vendor; print its API key and webhook signing secret, once."""
    with open_session() as session:
        created = service.create_vendor(session, name)
        session.commit()
    webhook = f"/v1/webhooks/{created.vendor.id}/events"
    warning = "Store the API key now: only its hash is kept, so it cannot be shown again."
    if as_json:
        document = {
            "vendor_id": created.vendor.id,
            "name": created.vendor.name,
            "api_key_id": created.api_key_id,
            "api_key": created.api_key,
            "signing_secret_id": created.signing_secret_id,
            "signing_secret": created.signing_secret,
            "webhook_path": webhook,
        }
        typer.echo(json.dumps(document, indent=2))
        typer.secho(warning, fg=typer.colors.YELLOW, err=True)
        return
    typer.echo(f"vendor id:       {created.vendor.id}")
    typer.echo(f"API key:         {created.api_key}")
    typer.echo(f"signing secret:  {created.signing_secret}")
    typer.echo(f"webhook:         POST {webhook}")
    typer.secho(warning, fg=typer.colors.YELLOW)
