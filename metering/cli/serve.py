"""`metering serve`: migrate the database, then run the API under uvicorn."""

from __future__ import annotations

import typer
import uvicorn

from metering.cli.db import database_label
from metering.db import migrate
from metering.settings import get_settings


def serve_command(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Worker processes (each opens its own pool)."),
) -> None:
    """Serve the webhook and REST API (migrations run first, so a fresh database works)."""
    url = get_settings().database_url
    migrate.upgrade(url)
    typer.echo(f"database {database_label(url)} migrated; serving on http://{host}:{port}")
    uvicorn.run("metering.app:create_app", factory=True, host=host, port=port, workers=workers)
