"""`metering invoices ...`: close due periods by hand, show or void an invoice.

The jobs close periods on their own (`metering worker`); `run` is for an operator who
wants it now, or as of another time (closing is deterministic: a period is priced as of its
end plus `close_after`, whenever it runs).
"""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlmodel import Session

from metering.billing.credit_purchases import top_up
from metering.billing.credit_purchases.service import providers_of
from metering.billing.invoices import repository
from metering.billing.invoices.close import CloseReport, close_due
from metering.billing.invoices.models import Invoice
from metering.billing.invoices.service import invoice_detail, void
from metering.billing.invoices.thresholds import invoice_thresholds
from metering.catalog.plans.compiled import rules_of
from metering.catalog.vendors.service import VendorNotFound, find_vendor
from metering.platform.api.problems import ProblemError
from metering.platform.db.engine import make_engine
from metering.platform.db.types import utcnow
from metering.platform.settings import get_settings
from metering.surfaces.cli.common import fail, find_customer, parse_as_of
from metering.surfaces.cli.db import open_session
from pricing_rules.engine import money_text
from pricing_rules.money import minor_units
from pricing_rules.periods import Period

invoices_app = typer.Typer(
    help="Invoices: close due periods, show or void one.", no_args_is_help=True
)
SHOWN = 50


def _period_label(session: Session, plan_version_id: str, start: datetime, end: datetime) -> str:
    return Period(start, end, None, rules_of(session, plan_version_id).billing.timezone).label


def _summary(session: Session, report: CloseReport) -> Table:
    table = Table("number", "customer", "period", "total", "corrections", title_justify="left")
    shown = report.invoices[:SHOWN]
    invoices = {i.id: i for i in repository.invoices_by_id(session, [i.id for i in shown])}
    names = repository.external_ids(session, {i.customer_id for i in shown})
    for closed in shown:
        invoice = invoices[closed.id]
        table.add_row(
            str(closed.number),
            names.get(closed.customer_id, closed.customer_id),
            _period_label(session, invoice.plan_version_id, closed.period_start, closed.period_end),
            f"{money_text(closed.total, minor_units(closed.currency))} {closed.currency}",
            str(closed.corrections),
        )
    if len(report.invoices) > SHOWN:
        table.caption = f"... and {len(report.invoices) - SHOWN} more"
    return table


def _check_future(as_of: datetime, present: datetime, force: bool) -> None:
    """Refuse an --as-of after the present unless forced; say what a forced run does.

    Closing as of a future instant issues invoices for periods whose late window has not
    passed: they are final at once, and events still to come in those periods are billed
    only as corrections on later invoices.
    """
    if as_of <= present:
        return
    consequence = (
        f"--as-of {as_of.isoformat()} is in the future (now is {present.isoformat()}): closing "
        "as of it issues real, immutable invoices for periods that have not ended or whose "
        "late window is still open; events still to come in them will only be billed as "
        "corrections on later invoices"
    )
    if not force:
        raise fail(f"{consequence}. Pass --force to do so anyway.")
    Console(stderr=True, soft_wrap=True).print(
        Text.assemble(("warning:", "yellow"), " ", consequence, "."), highlight=False
    )


@invoices_app.command("run")
def run_command(
    as_of: str | None = typer.Option(
        None, "--as-of", help="Close what is due at this time (ISO 8601); now by default."
    ),
    customer: str | None = typer.Option(
        None, "--customer", help="Only this customer (its external id)."
    ),
    vendor: str | None = typer.Option(None, "--vendor", help="Only this vendor (id or name)."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Allow an --as-of in the future: issues real, immutable invoices for periods "
        "that have not ended.",
    ),
) -> None:
    """Close every period due, issue its invoice, and bill corrections of earlier ones; then
    issue the interim invoice of every open period that reached its `invoice_at`."""
    console = Console(soft_wrap=True)
    now = parse_as_of(as_of)
    _check_future(now, utcnow(), force)
    vendor_id = customer_id = None
    try:
        with open_session() as session:
            if customer is not None:
                found = find_customer(session, customer, vendor)
                vendor_id, customer_id = found.vendor_id, found.id
            elif vendor is not None:
                vendor_id = find_vendor(session, vendor).id
    except VendorNotFound as error:
        raise fail(str(error)) from None
    engine = make_engine(get_settings().database_url)
    columns = (
        TextColumn("closing periods"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("close", total=None)

            def advance(done: int, found: int) -> None:
                progress.update(task, completed=done, total=found)

            report = close_due(engine, now, vendor_id, customer_id, advance)
        interims = invoice_thresholds(engine, now, vendor_id, customer_id)
        closed = {invoice.customer_id for invoice in [*report.invoices, *interims]}
        top_up.after_close(engine, closed, providers_of(get_settings()), now)
        with open_session() as session:
            if report.invoices:
                console.print(_summary(session, report))
    finally:
        engine.dispose()
    console.print(
        f"{len(report.invoices)} invoice(s) issued as of {now.isoformat()}, "
        f"{report.corrected_periods} earlier period(s) corrected"
        + (f", {report.skipped} being closed by another process" if report.skipped else "")
        + (f", {len(interims)} interim invoice(s) at a threshold" if interims else "")
    )


@invoices_app.command("show")
def show_command(invoice_id: str = typer.Argument(..., help="The invoice id (inv_...).")) -> None:
    """An invoice and its lines."""
    console = Console(soft_wrap=True)
    with open_session() as session:
        invoice = session.get(Invoice, invoice_id)
        if invoice is None:
            raise fail(f"no invoice '{invoice_id}'")
        detail = invoice_detail(session, invoice)
        names = repository.external_ids(session, {invoice.customer_id})
        period = _period_label(
            session, invoice.plan_version_id, invoice.period_start, invoice.period_end
        )
        labels = {
            (line.period_start, line.period_end): _period_label(
                session, invoice.plan_version_id, line.period_start, line.period_end
            )
            for line in detail.lines
        }
    number = f"#{detail.number}" if detail.number is not None else "(draft)"
    console.print(
        f"invoice {number} {detail.id}: {names.get(detail.customer_id, detail.customer_id)}, "
        f"{period}, {detail.status}, {detail.payment_provider or 'payment'} sync "
        f"{detail.sync_state}"
        + (f" ({detail.sync_error})" if detail.sync_error else "")
        + (f", {detail.amount_due} {detail.currency} due" if detail.payments else "")
    )
    table = Table("#", "kind", "description", "period", "quantity", "amount", "outcomes")
    for line in detail.lines:
        table.add_row(
            str(line.position),
            line.kind,
            line.description,
            labels[(line.period_start, line.period_end)],
            line.quantity or "",
            line.amount,
            str(line.outcome_count),
        )
    table.add_row("", "", "total", "", "", f"{detail.total} {detail.currency}", "", style="bold")
    console.print(table)


@invoices_app.command("void")
def void_command(invoice_id: str = typer.Argument(..., help="The invoice id (inv_...).")) -> None:
    """Void an invoice: its payment provider voids its copy, and the corrections it carried
    are billed again at the customer's next close."""
    with open_session() as session:
        invoice = session.get(Invoice, invoice_id)
        if invoice is None:
            raise fail(f"no invoice '{invoice_id}'")
        was = invoice.status
        try:
            void(session, invoice, utcnow())
        except ProblemError as error:
            raise fail(error.detail) from None
        session.commit()
    number = f"#{invoice.number}" if invoice.number is not None else "(draft)"
    if was == invoice.status:
        typer.echo(f"invoice {number} {invoice.id} was void already: nothing changed")
        return
    typer.echo(
        f"invoice {number} {invoice.id} is void (was {was}); its payment provider voids it "
        "at the next sync, and the periods it corrected are billed again at the next close"
    )
