"""What several commands share: how they fail, read --as-of, and find a customer by its id."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.text import Text
from sqlmodel import Session

from metering.catalog.customers import repository as customers
from metering.catalog.customers.models import Customer
from metering.catalog.vendors.service import find_vendor
from metering.platform.db.types import utcnow


def fail(message: str) -> typer.Exit:
    """Print `error: message` to stderr; the caller raises the returned exit (code 1).

    The message is plain text: brackets in it are printed, never read as markup.
    """
    line = Text.assemble(("error:", "red"), " ", message)
    Console(stderr=True, soft_wrap=True).print(line, highlight=False)
    return typer.Exit(code=1)


def parse_as_of(text: str | None) -> datetime:
    """The instant an `--as-of` option names (now when omitted); it must carry a timezone."""
    if text is None:
        return utcnow()
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--as-of {text!r} is not an ISO 8601 time such as 2026-12-04T00:00Z") from None
    if instant.tzinfo is None:
        raise fail(f"--as-of {text!r} has no timezone; add Z or an offset such as +01:00")
    return instant


def find_customer(session: Session, external_id: str, vendor: str | None) -> Customer:
    """The customer with this external id, of `vendor` (id or name) when given.

    Without `vendor` the id must name one customer across vendors. Raises `VendorNotFound`
    for an unknown vendor; the caller reports it.
    """
    if vendor is not None:
        owner = find_vendor(session, vendor)
        found = customers.by_external_id(session, owner.id, external_id)
        if found is None:
            raise fail(f"vendor {owner.id} has no customer '{external_id}'")
        return found
    matching = customers.with_external_id(session, external_id)
    if not matching:
        raise fail(f"no customer '{external_id}'")
    if len(matching) > 1:
        vendors = ", ".join(sorted(customer.vendor_id for customer in matching))
        raise fail(f"several vendors have a customer '{external_id}' ({vendors}); pass --vendor")
    return matching[0]
