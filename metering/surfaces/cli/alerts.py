"""`metering alerts evaluate`: fire the alerts crossed now (or as of another time).

The `evaluate_alerts` job runs this every minute; an alert fires once per customer and
period however often it is evaluated, so running it by hand is always safe.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from metering.notify.alerts.evaluation import evaluate
from metering.platform.db.engine import make_engine
from metering.platform.settings import get_settings
from metering.surfaces.cli.common import parse_as_of
from pricing_rules.engine import decimal_text

alerts_app = typer.Typer(help="Alerts: evaluate the rules now.", no_args_is_help=True)


@alerts_app.command("evaluate")
def evaluate_command(
    as_of: str | None = typer.Option(
        None, "--as-of", help="Evaluate as of this time (ISO 8601); now by default."
    ),
) -> None:
    """Fire every alert rule (and plan maximum) whose threshold a watched period reached."""
    now = parse_as_of(as_of)
    engine = make_engine(get_settings().database_url)
    try:
        fired = evaluate(engine, now=now)
    finally:
        engine.dispose()
    console = Console(soft_wrap=True)
    if fired:
        table = Table("alert", "kind", "customer", "period start", "figure", "threshold")
        for item in fired:
            table.add_row(
                item.key,
                item.kind,
                item.customer_id,
                item.period_start.isoformat(),
                decimal_text(item.figure),
                decimal_text(item.threshold),
            )
        console.print(table)
    console.print(f"{len(fired)} alert(s) fired as of {now.isoformat()}")
