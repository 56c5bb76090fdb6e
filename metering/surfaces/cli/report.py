"""`metering report margin`: revenue against AI cost per customer and outcome type.

The table rounds amounts to the currency's minor unit; `--csv` writes the exact amounts
(a model call may cost 0.0027) for a spreadsheet, one line per outcome type, per customer
period and per currency total. Progress goes to stderr, so the CSV on stdout stays clean.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import Session, select

from metering.catalog.vendors.models import Vendor
from metering.catalog.vendors.service import VendorNotFound, find_vendor
from metering.surfaces.cli.common import fail, find_customer, parse_as_of
from metering.surfaces.cli.db import open_session
from metering.surfaces.reports.margin import (
    CurrencyTotals,
    CustomerMargin,
    MarginReport,
    OutcomeMargin,
    value_order,
)
from metering.surfaces.reports.schemas import (
    CustomerMarginOut,
    OutcomeMarginOut,
    OutcomeValueMarginOut,
    report_out,
)
from metering.surfaces.reports.service import BadPeriod, margin_report
from pricing_rules.money import round_money

report_app = typer.Typer(help="Reports: margin per outcome.", no_args_is_help=True)

CSV_COLUMNS = (
    "period",
    "row",
    "customer",
    "customer_id",
    "plan",
    "plan_version",
    "currency",
    "period_start",
    "period_end",
    "revenue_source",
    "overridden",
    "outcome",
    "value",
    "settled",
    "pending",
    "revenue",
    "other_revenue",
    "promotional_credits",
    "prepaid_credits",
    "attributed_cost",
    "unbilled_cost",
    "cost",
    "margin",
    "margin_percent",
    "unpriced_events",
)


def _scope(session: Session, vendor: str | None, customer: str | None) -> tuple[str, str | None]:
    """(vendor id, customer id or None) from the options; the only vendor when none given."""
    if customer is not None:
        found = find_customer(session, customer, vendor)
        return found.vendor_id, found.id
    if vendor is not None:
        return find_vendor(session, vendor).id, None
    vendors = session.exec(select(Vendor).limit(2)).all()
    if len(vendors) != 1:
        raise fail("several vendors are stored; pass --vendor" if vendors else "no vendor yet")
    return vendors[0].id, None


def _money(amount: Decimal, currency: str) -> str:
    return f"{round_money(amount, currency):,}"


def _percent(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.1f}%"


def _cells(
    name: str,
    label: str,
    counts: tuple[str, str],
    figures: OutcomeMargin | CustomerMargin | CurrencyTotals,
    currency: str,
) -> list[str]:
    """A row of figures: `counts` are the settled and pending outcomes (blank if none)."""
    return [
        name,
        label,
        *counts,
        _money(figures.revenue, currency),
        _money(figures.cost, currency),
        _money(figures.margin, currency),
        _percent(figures.margin_percent),
    ]


def _add_outcomes(
    table: Table, name: str, outcomes: dict[str, OutcomeMargin], currency: str
) -> str:
    """A row per outcome type, by name, `name` on the first only; the name the next row
    shows (blank once written)."""
    for outcome in sorted(outcomes):
        item = outcomes[outcome]
        counts = (str(item.settled), str(item.pending))
        table.add_row(*_cells(name, outcome, counts, item, currency))
        name = ""
        for value in sorted(item.values, key=value_order):
            part = item.values[value]
            counts = (str(part.settled), str(part.pending))
            label = f"  {'(none)' if value is None else value}"
            table.add_row(*_cells(name, label, counts, part, currency), style="dim")
    return name


def _table(report: MarginReport) -> Table:
    table = Table(
        "customer",
        "outcome",
        title=f"margin {report.period} as of {report.as_of.isoformat()}",
        title_justify="left",
    )
    for name in ("settled", "pending", "revenue", "cost", "margin", "margin %"):
        table.add_column(name, justify="right")
    for index, row in enumerate(report.customers):
        if index:
            table.add_section()
        overridden = ", overridden" if row.overridden else ""
        name = f"{row.customer} ({row.currency}, {row.revenue_source}{overridden})"
        name = _add_outcomes(table, name, row.outcomes, row.currency)
        if row.other_revenue:
            table.add_row(
                name, "not per outcome", "", "", _money(row.other_revenue, row.currency), ""
            )
            name = ""
        if row.promotional_credits:
            credits = _money(row.promotional_credits, row.currency)
            table.add_row(name, "promotional credits (discount)", "", "", credits, "")
            name = ""
        if row.prepaid_credits:
            prepaid = _money(row.prepaid_credits, row.currency)
            table.add_row(name, "paid credits (collected in advance)", "", "", f"({prepaid})", "")
            name = ""
        if row.unbilled_cost:
            table.add_row(
                name, "unbilled cost", "", "", "", _money(row.unbilled_cost, row.currency)
            )
        total = _cells("", "customer total", ("", ""), row, row.currency)
        table.add_row(*total, style="bold")
    for totals in report.totals:
        table.add_section()
        name = _add_outcomes(table, f"total {totals.currency}", totals.outcomes, totals.currency)
        counts = (str(totals.settled), str(totals.pending))
        table.add_row(*_cells(name, "all", counts, totals, totals.currency), style="bold")
    return table


def _customer_cells(row: CustomerMarginOut) -> dict[str, Any]:
    return {
        "customer": row.customer,
        "customer_id": row.customer_id,
        "plan": row.plan,
        "plan_version": row.plan_version,
        "currency": row.currency,
        "period_start": row.period_start.isoformat(),
        "period_end": row.period_end.isoformat(),
        "revenue_source": row.revenue_source,
        "overridden": row.overridden,
    }


def _outcome_cells(kind: str, item: OutcomeMarginOut | OutcomeValueMarginOut) -> dict[str, Any]:
    return {"row": kind, **item.model_dump(exclude={"values"}), "attributed_cost": item.cost}


def csv_rows(report: MarginReport) -> Iterator[dict[str, Any]]:
    """The report as CSV records, exact amounts."""
    out = report_out(report)
    for row in out.customers:
        cells = {"period": out.period, **_customer_cells(row)}
        for item in row.outcomes:
            yield cells | _outcome_cells("outcome", item)
            for part in item.values:
                yield cells | {"outcome": item.outcome} | _outcome_cells("value", part)
        yield cells | {
            "row": "customer",
            **row.model_dump(exclude={"outcomes", "unpriced", "invoice_ids", "outcome_revenue"}),
            "settled": sum(item.settled for item in row.outcomes),
            "pending": sum(item.pending for item in row.outcomes),
            "unpriced_events": sum(item.events for item in row.unpriced),
            "period_start": row.period_start.isoformat(),
            "period_end": row.period_end.isoformat(),
        }
    for totals in out.totals:
        for item in totals.outcomes:
            cells = {"period": out.period, "currency": totals.currency}
            yield cells | _outcome_cells("total", item)
            for part in item.values:
                yield cells | {"outcome": item.outcome} | _outcome_cells("total value", part)
        yield {"period": out.period, "row": "total", **totals.model_dump(exclude={"outcomes"})}


def _unpriced_notes(report: MarginReport) -> list[str]:
    return [
        f"{row.customer}: {count} event(s) with unpriced cost: {reason}"
        for row in report.customers
        for reason, count in sorted(row.unpriced.items())
    ]


@report_app.command("margin")
def margin_command(
    period: str = typer.Option(..., "--period", help="Period label, e.g. 2026-11."),
    vendor: str | None = typer.Option(None, "--vendor", help="The vendor (id or name)."),
    customer: str | None = typer.Option(
        None, "--customer", help="Only this customer (its external id)."
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Rate open periods as of this time (ISO 8601); now by default."
    ),
    as_csv: bool = typer.Option(False, "--csv", help="Write CSV (exact amounts) to stdout."),
) -> None:
    """Per customer and outcome type: outcomes, revenue, attributed cost, margin, margin %,
    and the cost that landed on no billed outcome (unbilled)."""
    instant = parse_as_of(as_of)
    errors = Console(stderr=True, soft_wrap=True)
    columns = (
        TextColumn("customer periods"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with open_session() as session:
            vendor_id, customer_id = _scope(session, vendor, customer)
            with Progress(*columns, console=errors, transient=True) as progress:
                task = progress.add_task("report", total=None)

                def advance(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                report = margin_report(
                    session, vendor_id, period, instant, customer_id=customer_id, progress=advance
                )
    except (VendorNotFound, BadPeriod) as error:
        raise fail(str(error)) from None
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_rows(report))
        return
    console = Console(soft_wrap=True)
    if not report.customers:
        console.print(f"no customer has a period {period} (as of {instant.isoformat()})")
        return
    console.print(_table(report))
    for note in _unpriced_notes(report):
        console.print(note, style="yellow", markup=False, highlight=False)
