"""The `metering` command: a registry of sub-commands, one module per domain."""

from __future__ import annotations

import typer

from metering.surfaces.cli.alerts import alerts_app
from metering.surfaces.cli.apply import apply_command
from metering.surfaces.cli.credits import credits_app
from metering.surfaces.cli.db import db_app
from metering.surfaces.cli.eventlog import eventlog_app
from metering.surfaces.cli.events import events_app
from metering.surfaces.cli.invoices import invoices_app
from metering.surfaces.cli.outcomes import outcomes_app
from metering.surfaces.cli.portal import portal_app
from metering.surfaces.cli.report import report_app
from metering.surfaces.cli.rules import rules_app
from metering.surfaces.cli.serve import serve_command
from metering.surfaces.cli.simulate import simulate_command
from metering.surfaces.cli.vendors import vendors_app
from metering.surfaces.cli.webhooks import webhooks_app
from metering.surfaces.cli.worker import worker_command

app = typer.Typer(
    name="metering",
    help="Outcome-based pricing and metering.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
rules_app.command("apply")(apply_command)
rules_app.command("simulate")(simulate_command)
app.add_typer(rules_app, name="rules")
app.add_typer(db_app, name="db")
app.add_typer(vendors_app, name="vendors")
app.add_typer(events_app, name="events")
app.add_typer(eventlog_app, name="eventlog")
app.add_typer(outcomes_app, name="outcomes")
app.add_typer(invoices_app, name="invoices")
app.add_typer(portal_app, name="portal")
app.add_typer(report_app, name="report")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(alerts_app, name="alerts")
app.add_typer(credits_app, name="credits")
app.command("serve")(serve_command)
app.command("worker")(worker_command)
