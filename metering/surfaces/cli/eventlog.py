"""`metering eventlog ...`: switch a vendor over to the ClickHouse event log.

`backfill` copies the vendor's stored events (resumable: run it again after a stop);
`verify` compares counts and sums per customer and month between the two stores.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from metering.catalog.vendors.service import VendorNotFound, find_vendor
from metering.ledger.eventlog.config import open_eventlog
from metering.ledger.eventlog.record import MonthTotals
from metering.ledger.eventlog.switchover import backfill, verify
from metering.platform.settings import get_settings
from metering.surfaces.cli.common import fail
from metering.surfaces.cli.db import open_session

eventlog_app = typer.Typer(
    help="The ClickHouse event log: backfill a vendor's events, verify the two stores.",
    no_args_is_help=True,
)
VENDOR = typer.Option(..., "--vendor", help="Vendor id or name.")


def _url() -> str:
    url = get_settings().eventlog_url
    if url is None:
        raise fail("METERING_EVENTLOG_URL is not set (chdb:<folder> or http://host:8123/)")
    return url


@eventlog_app.command("backfill")
def backfill_command(
    vendor: str = VENDOR,
    restart: bool = typer.Option(False, help="Copy from the start, not from the checkpoint."),
) -> None:
    """Copy the vendor's stored events into the event log, with progress; resumable."""
    log = open_eventlog(_url())
    try:
        with open_session() as session:
            try:
                vendor_id = find_vendor(session, vendor).id
            except VendorNotFound as error:
                raise fail(str(error)) from None
            columns = (
                TextColumn("events"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=Console(stderr=True)) as bar:
                task = bar.add_task("backfill", total=None)
                copied = backfill(
                    session,
                    log,
                    vendor_id,
                    lambda done, total: bar.update(task, completed=done, total=total),
                    restart=restart,
                )
    finally:
        log.close()
    typer.echo(f"copied {copied} events of vendor {vendor_id} into the event log")


def _figures(totals: MonthTotals | None) -> str:
    if totals is None:
        return "-"
    tokens = sum(i + o for i, o in totals.tokens.values())
    money = ", ".join(f"{a.normalize():f} {c}" for c, a in sorted(totals.money.items()))
    return f"{totals.events} events, {tokens} tokens" + (f", {money}" if money else "")


@eventlog_app.command("verify")
def verify_command(vendor: str = VENDOR) -> None:
    """Compare counts and sums per customer and month; exit 1 when the event log lacks
    something the SQL store has (with the event log on, cost-only events are only there)."""
    log = open_eventlog(_url())
    try:
        with open_session() as session:
            try:
                found = find_vendor(session, vendor)
            except VendorNotFound as error:
                raise fail(str(error)) from None
            checks = verify(session, log, found.id)
    finally:
        log.close()
    table = Table("customer", "month", "stored", "event log", "", title_justify="left")
    missing = 0
    for check in checks:
        short = (check.logged.events if check.logged else 0) < (
            check.stored.events if check.stored else 0
        )
        if check.matches:
            verdict = "same"
        elif short or not found.eventlog:
            verdict, missing = "DIFFERENT", missing + 1
        else:
            verdict = "more in the event log (cost-only events)"
        table.add_row(
            check.customer_id,
            check.month,
            _figures(check.stored),
            _figures(check.logged),
            verdict,
        )
    Console().print(table)
    if missing:
        raise fail(f"{missing} customer months differ between the stores")
    typer.echo(f"{len(checks)} customer months checked: the event log has every stored event")


@eventlog_app.command("enable")
def enable_command(
    vendor: str = VENDOR,
    off: bool = typer.Option(False, "--off", help="Turn it off again."),
) -> None:
    """Write the vendor's accepted events to the event log too (backfill first, see README).
    Turned off, cost-only events written meanwhile stay only in the event log."""
    if not off:
        _url()
    with open_session() as session:
        try:
            found = find_vendor(session, vendor)
        except VendorNotFound as error:
            raise fail(str(error)) from None
        found.eventlog = not off
        session.add(found)
        session.commit()
    typer.echo(f"event log {'off' if off else 'on'} for vendor {found.id}")
