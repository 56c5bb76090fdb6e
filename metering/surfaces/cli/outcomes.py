"""`metering outcomes ...`: derive outcome rows again from the stored events.

An operator runs this after fixing something outside the events (a subscription edited by
hand, a bug fixed in matching): the events are the source of truth, so the rows of a
customer's period are deleted and derived again with the same core ingestion uses, and
the period is marked stale if it had ended, so the next close corrects its invoice.
"""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

from metering.catalog.subscriptions.service import span_of_label
from metering.catalog.vendors.service import VendorNotFound
from metering.ledger.outcomes import repository
from metering.ledger.outcomes.service import rederive_customer
from metering.platform.db.types import utcnow
from metering.surfaces.cli.common import fail, find_customer
from metering.surfaces.cli.db import open_session

outcomes_app = typer.Typer(help="Outcome rows derived from events.", no_args_is_help=True)


def _states_table(before: dict[str, int], after: dict[str, int]) -> Table:
    table = Table("outcome rows", "before", "after", title_justify="left")
    for state in sorted(before.keys() | after.keys()):
        table.add_row(state, str(before.get(state, 0)), str(after.get(state, 0)))
    table.add_row("total", str(sum(before.values())), str(sum(after.values())), style="bold")
    return table


@outcomes_app.command("rederive")
def rederive_command(
    customer: str = typer.Option(..., "--customer", help="The customer's external id."),
    period: str | None = typer.Option(
        None,
        "--period",
        help="A period label in the plan's interval and timezone (2026-11, 2026-W47, "
        "2026-Q4, ...); every event of the customer without it.",
    ),
    vendor: str | None = typer.Option(
        None, "--vendor", help="Vendor id or name, when several vendors have this customer id."
    ),
) -> None:
    """Derive a customer's outcome rows again from its stored events, in one transaction."""
    console = Console(soft_wrap=True)
    now = utcnow()
    try:
        with open_session() as session:
            found = find_customer(session, customer, vendor)
            since: datetime | None = None
            until: datetime | None = None
            if period is not None:
                try:
                    since, until = span_of_label(session, found.id, period)
                except ValueError as error:
                    raise fail(f"customer '{customer}': {error}") from None
            before = repository.state_counts(session, found.id, since, until)
            with console.status(f"deriving the outcomes of {customer} again..."):
                derived = rederive_customer(session, found, now, since, until)
                session.commit()
            after = repository.state_counts(session, found.id, since, until)
    except VendorNotFound as error:
        raise fail(str(error)) from None
    where = ""
    if since is not None and until is not None:
        where = f" from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"
    console.print(f"customer {customer} ({found.id}): {derived} event(s){where} derived again")
    console.print(_states_table(before, after))
