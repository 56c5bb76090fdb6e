"""`metering rules simulate`: a proposed rule file against a plan's stored history.

Reads the configured database through a read-only connection (nothing is written, not even
by accident) and prints, per customer and in total, what the invoices bill now and what the
proposal would bill, then the events whose treatment changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlmodel import Session

from metering.catalog.plans.models import Plan
from metering.catalog.vendors.service import VendorNotFound, find_vendor
from metering.platform.db.types import utcnow
from metering.platform.settings import get_settings
from metering.surfaces.cli.common import fail
from metering.surfaces.simulation import repository
from metering.surfaces.simulation.readonly import read_only_session
from metering.surfaces.simulation.schemas import SimulationOut, simulation_out
from metering.surfaces.simulation.service import EXAMPLES, SimulationError, simulate
from metering.surfaces.simulation.service import Progress as Progress_
from pricing_rules.errors import RuleFileError
from pricing_rules.event_json import EventFormatError, parse_timestamp
from pricing_rules.loader import load_rules_file
from pricing_rules.rules import RuleFile


def simulate_command(
    proposed: Path = typer.Option(..., "--proposed", help="The proposed rule file (YAML)."),
    plan: str | None = typer.Option(
        None, "--plan", help="Plan id or slug; default: the proposed file's plan."
    ),
    vendor: str | None = typer.Option(
        None, "--vendor", help="Vendor id or name (needed when several vendors have the plan)."
    ),
    start: str = typer.Option(..., "--from", help="Start of the range (ISO 8601)."),
    end: str = typer.Option(..., "--to", help="End of the range, exclusive (ISO 8601)."),
    examples: int = typer.Option(EXAMPLES, "--examples", min=0, help="Changed events to show."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (as the API)."),
) -> None:
    """Price the stored events of every period overlapping the range under the versions in
    force and under the proposed file, and show what changes. Writes nothing."""
    try:
        rules = load_rules_file(proposed)
    except RuleFileError as error:
        for item in error.errors:
            typer.echo(str(item), err=True)
        raise typer.Exit(code=1) from None
    since, until = _instant(start, "--from"), _instant(end, "--to")
    with read_only_session(get_settings().database_url) as session:
        found = _plan(session, plan, vendor, rules)
        try:
            with _progress() as update:
                result = simulate(
                    session, found, rules, since, until, utcnow(), update, examples=examples
                )
        except SimulationError as error:
            raise fail(str(error)) from None
    if as_json:
        typer.echo(
            json.dumps(simulation_out(result).model_dump(mode="json", by_alias=True), indent=2)
        )
    else:
        _print(simulation_out(result))


def _instant(value: str, option: str) -> datetime:
    try:
        return parse_timestamp(value, option)
    except EventFormatError as exc:
        raise typer.BadParameter(str(exc)) from None


def _plan(session: Session, ref: str | None, vendor: str | None, rules: RuleFile) -> Plan:
    """The plan asked for, else the proposed file's plan, else the vendor's only plan."""
    try:
        owner = None if vendor is None else find_vendor(session, vendor).id
    except VendorNotFound as error:
        raise fail(str(error)) from None
    found = repository.plans_matching(session, ref or rules.plan, owner)
    if not found and ref is None and owner is not None:
        found = repository.plans_of_vendor(session, owner)
        if len(found) > 1:
            slugs = ", ".join(p.slug for p in found)
            raise fail(f"vendor {owner} has no plan '{rules.plan}'; pass --plan (one of {slugs})")
    if not found:
        scope = "" if owner is None else f" of vendor {owner}"
        raise fail(f"no plan '{ref or rules.plan}'{scope}")
    if len(found) > 1:
        vendors = ", ".join(p.vendor_id for p in found)
        raise fail(f"several vendors have a plan '{ref or rules.plan}' ({vendors}); pass --vendor")
    return found[0]


@contextmanager
def _progress() -> Iterator[Progress_]:
    """A rich progress bar on stderr, per customer; gone once the simulation is done."""
    bar = Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("customers · {task.fields[events]:,} events"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("simulate", total=None, events=0)

    def update(done: int, total: int, events: int) -> None:
        bar.update(task, completed=done, total=total, events=events)

    with bar:
        yield update


def _signed(text: str) -> str:
    return text if text.startswith("-") else f"+{text}"


def _print_limits_and_credits(console: Console, out: SimulationOut) -> None:
    """Outcomes a block limit holds, and what credits would have drawn per period."""
    held = out.over_limit
    if held.current or held.proposed:
        console.print(
            f"Outcomes over a block limit (not billed): current {held.current:,}, "
            f"proposed {held.proposed:,}"
        )
    drawn = [(c, d) for c in out.customers for d in c.drawdowns]
    if not drawn:
        return
    currency = out.currency.upper()
    table = Table(title=f"credits drawn by period ({currency})", title_justify="left")
    for name in ("customer", "side", "period from", "invoice", "drawn"):
        table.add_column(name, justify="right" if name in ("invoice", "drawn") else "left")
    table.add_column("grants")
    for customer, d in drawn:
        table.add_row(
            Text(customer.customer),
            d.side,
            d.period_from.date().isoformat(),
            d.invoice,
            d.drawn,
            Text(", ".join(f"{g.name or g.grant_id} {g.amount}" for g in d.grants)),
        )
    console.print(table)
    credits = out.credits
    console.print(
        f"Credits drawn: current {credits.current}, proposed {credits.proposed} "
        f"({_signed(credits.difference)}) {currency}"
    )


def _print(out: SimulationOut) -> None:
    console = Console()
    currency = out.currency.upper()
    versions = ", ".join(f"v{n}" for n in out.current_versions) or "none"
    console.print(
        Text.assemble(
            (out.plan, "bold"),
            f" · current {versions} → proposed v{out.proposed.version} · {currency} · "
            f"{out.range_from.isoformat()} → {out.range_to.isoformat()} · "
            f"{out.events:,} events · as of {out.as_of.isoformat()}",
        )
    )
    if not out.customers:
        console.print("No customer is subscribed to this plan in the range.")
        return
    table = Table(title="amounts by customer", title_justify="left")
    for name in ("customer", f"current ({currency})", f"proposed ({currency})", "difference"):
        table.add_column(name, justify="left" if name == "customer" else "right")
    table.add_column("change", justify="right")
    rows = [(c.customer + (" (own prices)" if c.overridden else ""), c) for c in out.customers]
    for label, row in [*rows, ("total", out.total)]:
        if label == "total":
            table.add_section()
        change = "n/a" if row.percent_change is None else f"{_signed(row.percent_change)} %"
        table.add_row(
            Text(label, style="bold" if label == "total" else ""),
            row.current,
            row.proposed,
            _signed(row.difference),
            change,
        )
    console.print(table)
    _print_limits_and_credits(console, out)
    if not out.treatment_changes:
        console.print("No event changes treatment.")
        return
    changes = Table(title="events whose treatment changes", title_justify="left")
    for name in ("outcome", "current", "proposed", "events"):
        changes.add_column(name, justify="right" if name == "events" else "left")
    for kind in out.treatment_changes:
        changes.add_row(kind.outcome, kind.current, kind.proposed, f"{kind.events:,}")
    console.print(changes)
    shown = Table(title=f"first {len(out.examples)} changed events", title_justify="left")
    for name in ("event", "customer", "outcome", "current → proposed"):
        shown.add_column(name)
    for example in out.examples:
        shown.add_row(
            Text(example.event_id),
            Text(example.customer),
            example.outcome,
            f"{example.current} → {example.proposed}",
        )
    console.print(shown)
