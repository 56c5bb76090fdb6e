"""What a purchase invoice's moves do to the grant it sells (called by `lifecycle`, in the
transaction of the move): paid, the grant pending payment becomes usable (`credits.granted`);
void, the grant is voided (what an `on_issue` grant already paid for stays drawn). It imports
the ledger, never the credits service, which imports the close (and so `lifecycle`)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.credits import ledger
from metering.billing.credits.announce import announce_granted
from metering.billing.credits.models import CreditGrant, GrantStatus

GRANTS: sa.Table = CreditGrant.__table__  # type: ignore[attr-defined]


def _sold_by(session: Session, invoice_id: str) -> list[str]:
    return list(
        session.execute(
            sa.select(GRANTS.c.id).where(GRANTS.c.purchase_invoice_id == invoice_id)
        ).scalars()
    )


def on_paid(session: Session, invoice_id: str, at: datetime) -> None:
    """The grants the invoice sold and that wait for it become usable at `at`."""
    sold = _sold_by(session, invoice_id)
    for grant in ledger.lock(session, sold).values():
        if grant.status == GrantStatus.PENDING_PAYMENT.value:
            ledger.activate(session, grant, at, invoice_id)
            activated = session.get(CreditGrant, grant.id)
            assert activated is not None
            session.refresh(activated)
            announce_granted(session, activated)


def on_void(session: Session, invoice_id: str, at: datetime) -> None:
    """The grants the invoice sold are voided: an unpaid purchase sells nothing."""
    sold = _sold_by(session, invoice_id)
    for grant in ledger.lock(session, sold).values():
        if grant.status != GrantStatus.VOIDED.value:
            ledger.void(session, grant, at, f"purchase invoice {invoice_id} voided")
