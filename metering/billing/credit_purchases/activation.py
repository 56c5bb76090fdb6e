"""What a purchase invoice's moves do to the grant it sells (called by `lifecycle`, in the
transaction of the move): paid, the grant pending payment becomes usable (`credits.granted`);
void, the grant is voided (what an `on_issue` grant already paid for stays drawn), and a
customer's automatic top-up that bought it is armed again (`credits.top_up_failed`), so the
next check buys again. It imports the ledger, never the credits service, which imports the
close (and so `lifecycle`)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.credit_purchases.models import AutoTopUp
from metering.billing.credits import ledger
from metering.billing.credits.announce import announce_granted, grant_data
from metering.billing.credits.models import CreditGrant, GrantStatus
from metering.platform.outbox.models import EventType
from metering.platform.outbox.service import enqueue

GRANTS: sa.Table = CreditGrant.__table__  # type: ignore[attr-defined]
TOP_UPS: sa.Table = AutoTopUp.__table__  # type: ignore[attr-defined]
CROSSING_KEY = "auto_top_up_crossing"


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


def on_void(session: Session, invoice_id: str, at: datetime, reason: str = "void") -> None:
    """The grants the invoice sold are voided: an unpaid purchase sells nothing. A grant an
    automatic top-up bought re-arms it (`reason`: why the purchase failed)."""
    sold = _sold_by(session, invoice_id)
    for grant in ledger.lock(session, sold).values():
        if grant.status != GrantStatus.VOIDED.value:
            ledger.void(session, grant, at, f"purchase invoice {invoice_id} voided")
        voided = session.get(CreditGrant, grant.id)
        assert voided is not None
        session.refresh(voided)
        rearm(session, voided, reason)


def rearm(session: Session, grant: CreditGrant, reason: str) -> bool:
    """The purchase of `grant` failed: if an automatic top-up bought it and is still waiting
    on that very drop (disarmed, same crossing), arm it again and announce
    `credits.top_up_failed`; whether it was armed. One conditional UPDATE, so a failure
    told twice (the void after `invoice.uncollectible`) arms once, and the failure of an
    older drop never arms a top-up whose newer purchase is live."""
    crossing = (grant.details or {}).get(CROSSING_KEY)
    if not isinstance(crossing, int):
        return False
    armed = session.execute(
        sa.update(TOP_UPS)
        .where(
            TOP_UPS.c.customer_id == grant.customer_id,
            TOP_UPS.c.crossing == crossing,
            TOP_UPS.c.armed.is_(False),
        )
        .values(armed=True)
        .returning(TOP_UPS.c.customer_id)
    ).first()
    if armed is None:
        return False
    data = {**grant_data(session, grant), "crossing": crossing, "reason": reason}
    enqueue(session, grant.vendor_id, EventType.CREDITS_TOP_UP_FAILED.value, data)
    return True
