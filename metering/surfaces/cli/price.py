"""`metering rules price`: price a JSON-lines events file under a rule file."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from pricing_rules.engine import PricingReport, decimal_text, money_text, price_events
from pricing_rules.errors import RuleFileError
from pricing_rules.event_json import EventFormatError, parse_timestamp
from pricing_rules.event_lines import EventLinesError, read_event_lines
from pricing_rules.loader import load_rules_file
from pricing_rules.money import minor_units
from pricing_rules.periods import Period, period_from_label

MAX_SHOWN_ERRORS = 20


def price_command(
    file: Path = typer.Argument(..., help="Rule file (YAML).", show_default=False),
    events: Path = typer.Option(..., "--events", help="Events as JSON lines.", show_default=False),
    period: str | None = typer.Option(
        None, "--period", help="Billing period label: 2026-11, 2026-W48, 2026-Q4, 2026-11-28."
    ),
    start: str | None = typer.Option(None, "--from", help="Start of a custom range (ISO 8601)."),
    end: str | None = typer.Option(None, "--to", help="End of a custom range, exclusive."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Settle and reverse as of this time; default: end of the period."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Price the events of each customer in a billing period."""
    err = Console(stderr=True)
    try:
        rules = load_rules_file(file)
    except RuleFileError as exc:
        for error in exc.errors:
            typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        err.print(f"{file}: cannot read the rule file: {exc.strerror}")
        raise typer.Exit(1) from None
    billing_period = _period(period, start, end, rules.billing.interval, rules.billing.timezone)
    as_of_time = _instant(as_of, "--as-of") if as_of else None
    try:
        with events.open(encoding="utf-8") as handle:
            parsed = read_event_lines(handle)
    except OSError as exc:
        err.print(f"{events}: cannot read the events file: {exc.strerror}")
        raise typer.Exit(1) from None
    except EventLinesError as exc:
        for bad in exc.errors[:MAX_SHOWN_ERRORS]:
            typer.echo(f"{events}:{bad.line}: {bad.message}", err=True)
        hidden = len(exc.errors) - MAX_SHOWN_ERRORS
        if hidden > 0:
            typer.echo(f"{events}: and {hidden} more bad lines", err=True)
        typer.echo(f"{events}: nothing priced: fix the lines above first", err=True)
        raise typer.Exit(1) from None
    report = price_events(rules, parsed, billing_period, as_of_time)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report)


def _instant(value: str, option: str) -> datetime:
    try:
        return parse_timestamp(value, option)
    except EventFormatError as exc:
        raise typer.BadParameter(str(exc)) from None


def _period(
    label: str | None, start: str | None, end: str | None, interval: str, timezone: str
) -> Period:
    if label is not None:
        if start is not None or end is not None:
            raise typer.BadParameter("give either --period or --from and --to, not both")
        try:
            return period_from_label(label, interval, timezone)  # type: ignore[arg-type]
        except ValueError as exc:
            raise typer.BadParameter(f"--period: {exc}") from None
    if start is None or end is None:
        raise typer.BadParameter("give --period, or both --from and --to")
    period = Period(_instant(start, "--from"), _instant(end, "--to"))
    if period.end <= period.start:
        raise typer.BadParameter("--to must be after --from")
    return period


def _print_report(report: PricingReport) -> None:
    console = Console()
    rules = report.rules
    exponent = minor_units(rules.currency)
    currency = rules.currency.upper()
    console.print(
        f"[bold]{rules.plan}[/] v{rules.version} · {currency} · "
        f"{report.period.start.isoformat()} → {report.period.end.isoformat()} "
        f"· as of {report.as_of.isoformat()}"
    )
    if not report.customers:
        console.print("No customer has an event in this period.")
        return
    grand_total = sum((c.invoice.total for c in report.customers), Decimal(0))
    for customer in report.customers:
        table = Table(title=f"customer {customer.customer}", title_justify="left")
        table.add_column("charge")
        table.add_column("quantity", justify="right")
        table.add_column("detail", style="dim")
        table.add_column(f"amount ({currency})", justify="right")
        for line in customer.invoice.lines:
            table.add_row(
                line.charge,
                decimal_text(line.quantity),
                line.detail,
                money_text(line.amount, exponent),
            )
        table.add_section()
        table.add_row(
            "[bold]total[/]", "", "", f"[bold]{money_text(customer.invoice.total, exponent)}"
        )
        console.print(table)
        notes = []
        for name, usage in customer.usage.outcomes.items():
            if usage.pending:
                notes.append(f"{usage.pending} {name} pending settlement")
            if usage.reversed:
                notes.append(f"{usage.reversed} {name} reversed")
            if usage.duplicates:
                notes.append(f"{usage.duplicates} {name} duplicates not billed")
            if usage.superseded:
                notes.append(f"{usage.superseded} {name} superseded")
            if usage.rejected:
                notes.append(f"{usage.rejected} {name} rejected")
            if usage.awaiting:
                notes.append(f"{usage.awaiting} {name} not verified")
        if notes:
            console.print("  " + "; ".join(notes))
        for problem in customer.usage.problems:
            console.print(
                f"  [yellow]not billed[/]: event {problem.event_id} ({problem.outcome}): "
                f"{problem.message}"
            )
    console.print(
        f"[bold]{len(report.customers)} customers, total {currency} "
        f"{money_text(grand_total, exponent)}[/]"
    )
