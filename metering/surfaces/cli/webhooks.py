"""`metering webhooks deliver`: send the due outbound webhook deliveries now.

The `deliver_webhooks` job does this every few seconds (`metering worker`); the command is
for an operator who wants it now, for instance after a receiver came back.
"""

from __future__ import annotations

import typer
from rich.console import Console

from metering.notify.webhooks.delivery import deliver_due
from metering.platform.db.engine import make_engine
from metering.platform.jobs.context import process_owner
from metering.platform.settings import get_settings

webhooks_app = typer.Typer(help="Outbound webhooks: send due deliveries.", no_args_is_help=True)
BATCH = 100


@webhooks_app.command("deliver")
def deliver_command() -> None:
    """Send every delivery due now (new events and retries whose backoff has passed)."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    delivered = retrying = failed = 0
    try:
        while True:
            report = deliver_due(engine, settings, owner=process_owner(), limit=BATCH)
            delivered += report.delivered
            retrying += report.retrying
            failed += report.failed
            if len(report.results) < BATCH:
                break
    finally:
        engine.dispose()
    Console().print(
        f"{delivered} delivered, {retrying} failed and scheduled again, {failed} given up"
    )
