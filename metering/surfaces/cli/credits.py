"""`metering credits grant|list|ledger|balance`: prepaid credits for operators.

Grants are made through the same service as the API (a purchase too: `--price` issues the
purchase invoice through the customer's payment provider); balances move only through the
credits ledger.
"""

from __future__ import annotations

from decimal import Decimal

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlmodel import Session, col

from metering.billing.credit_purchases import service as purchases
from metering.billing.credits import repository, service
from metering.billing.credits.models import CreditEntry, CreditGrant
from metering.billing.credits.schemas import GrantCreate
from metering.catalog.customers.models import Customer
from metering.catalog.vendors.service import VendorNotFound
from metering.platform.api.problems import ProblemError
from metering.platform.db.types import utcnow
from metering.platform.settings import get_settings
from metering.surfaces.cli.common import fail, find_customer, parse_as_of
from metering.surfaces.cli.db import open_session

credits_app = typer.Typer(
    help="Prepaid credits: grant, list grants, show the ledger and the balance.",
    no_args_is_help=True,
)
SHOWN = 200

VENDOR = typer.Option(None, "--vendor", help="The vendor (id or name), when several have the id.")


def _customer(session: Session, customer: str, vendor: str | None) -> Customer:
    try:
        return find_customer(session, customer, vendor)
    except VendorNotFound as error:
        raise fail(str(error)) from None


def _when(value: object) -> str:
    return "-" if value is None else str(value)[:19].replace("T", " ")


@credits_app.command("grant")
def grant_command(
    customer: str = typer.Argument(..., help="The customer's id in the vendor's system."),
    amount: str = typer.Argument(..., help="The credits, in the customer's currency."),
    category: str = typer.Option("promotional", help="paid or promotional."),
    currency: str | None = typer.Option(None, help="Default: the customer's only currency."),
    priority: int = typer.Option(100, help="Lower is used first."),
    expires_at: str | None = typer.Option(None, "--expires-at", help="ISO 8601, with a zone."),
    name: str | None = typer.Option(None, help="As the customer reads it."),
    price: str | None = typer.Option(
        None, help="Buy it: a paid grant sold by an invoice for this price."
    ),
    on_issue: bool = typer.Option(
        False, "--on-issue", help="With --price: usable at once, not when the invoice is paid."
    ),
    vendor: str | None = VENDOR,
) -> None:
    """Grant credits to a customer (usable at once), or sell them with --price."""
    fields: dict[str, object] = {
        "amount": amount,
        "category": "paid" if price is not None else category,
        "currency": currency,
        "priority": priority,
        "expires_at": expires_at and parse_as_of(expires_at),
        "name": name,
    }
    if price is not None:
        fields["purchase"] = {"price": price, "effective": "on_issue" if on_issue else "on_payment"}
    try:
        data = GrantCreate.model_validate(fields)
    except ValidationError as error:
        raise fail(str(error.errors()[0]["loc"][0]) + ": " + error.errors()[0]["msg"]) from None
    now = utcnow()
    with open_session() as session:
        try:
            found = find_customer(session, customer, vendor)
            if data.purchase is not None:
                providers = purchases.providers_of(get_settings())
                made = purchases.purchase(session, found, data, providers, now)
            else:
                made = service.create(session, found, data, now)
        except (ProblemError, VendorNotFound) as error:
            raise fail(str(getattr(error, "detail", error))) from None
        session.commit()
        shown = service.grant_out(made)
    console = Console(soft_wrap=True)
    console.print(
        f"grant {shown.id}: {shown.amount} {shown.currency} ({shown.category}), {shown.status}"
    )
    if shown.purchase_invoice_id:
        console.print(f"purchase invoice {shown.purchase_invoice_id}")


@credits_app.command("list")
def list_command(
    customer: str = typer.Argument(..., help="The customer's id in the vendor's system."),
    vendor: str | None = VENDOR,
) -> None:
    """The customer's grants, oldest first: category, remaining, expiry, status."""
    with open_session() as session:
        found = _customer(session, customer, vendor)
        grants = session.exec(
            repository.grants_of(found.id).order_by(col(CreditGrant.created_at)).limit(SHOWN)
        ).all()
        rows = [service.grant_out(grant) for grant in grants]
    table = Table(
        "grant",
        "name",
        "category",
        "priority",
        "amount",
        "remaining",
        "expires",
        "status",
        title=f"Credit grants of {customer}",
        title_justify="left",
    )
    for row in rows:
        table.add_row(
            row.id,
            row.name or "-",
            row.category,
            str(row.priority),
            f"{row.amount} {row.currency}",
            f"{row.remaining} {row.currency}",
            _when(row.expires_at),
            row.status,
        )
    Console(soft_wrap=True).print(table)


@credits_app.command("ledger")
def ledger_command(
    customer: str = typer.Argument(..., help="The customer's id in the vendor's system."),
    grant: str | None = typer.Option(None, help="Only this grant's entries."),
    vendor: str | None = VENDOR,
) -> None:
    """Every change of the customer's credit balances, oldest first."""
    with open_session() as session:
        found = _customer(session, customer, vendor)
        entries = session.exec(
            repository.entries_of(found.id, grant).order_by(col(CreditEntry.id)).limit(SHOWN)
        ).all()
        rows = service.entries_out(entries)
    table = Table(
        "at",
        "grant",
        "kind",
        "amount",
        "invoice",
        "reason",
        title=f"Credit ledger of {customer}",
        title_justify="left",
    )
    for row in rows:
        table.add_row(
            _when(row.at),
            row.grant_id,
            row.kind,
            f"{row.amount} {row.currency}",
            row.invoice_id or "-",
            row.reason or "-",
        )
    Console(soft_wrap=True).print(table)


@credits_app.command("balance")
def balance_command(
    customer: str = typer.Argument(..., help="The customer's id in the vendor's system."),
    as_of: str | None = typer.Option(None, "--as-of", help="ISO 8601; now by default."),
    vendor: str | None = VENDOR,
) -> None:
    """Per currency: available now, what the open period would draw, what is left after it."""
    now = parse_as_of(as_of)
    with open_session() as session:
        found = _customer(session, customer, vendor)
        balance = service.balance_of(session, found, now)
    table = Table(
        "currency",
        "available",
        "projected draw",
        "after projection",
        "expiring in 30 days",
        title=f"Credit balance of {customer}",
        title_justify="left",
    )
    for line in balance.balances:
        expiring = sum((Decimal(g.remaining) for g in line.expiring_soon), Decimal(0))
        table.add_row(
            line.currency,
            line.available,
            line.projected_draw,
            line.available_after_projection,
            str(expiring) if line.expiring_soon else "-",
        )
    Console(soft_wrap=True).print(table)
