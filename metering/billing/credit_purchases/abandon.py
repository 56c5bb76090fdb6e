"""An automatic top-up whose purchase can no longer be collected: when the last scheduled
payment retry of its invoice fails (`invoice.uncollectible`), the top-up is armed again
(`credits.top_up_failed`, reason `uncollectible`) and the invoice is voided, so the grant it
sold is voided and its provider voids its copy: the customer never owes both the failed
purchase and the one the next check makes. A purchase made through the API or the portal is
left to dunning as any invoice is."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from metering.billing.credit_purchases import activation
from metering.billing.credits.models import CreditGrant
from metering.billing.invoices import lifecycle


def on_uncollectible(session: Session, invoice_id: str, at: datetime) -> bool:
    """Re-arm the top-up that bought through this invoice and void it (the caller's
    transaction); whether it was such a purchase."""
    sold = session.exec(
        select(CreditGrant).where(col(CreditGrant.purchase_invoice_id) == invoice_id)
    ).all()
    bought = [grant for grant in sold if activation.CROSSING_KEY in (grant.details or {})]
    if not bought:
        return False
    for grant in bought:
        activation.rearm(session, grant, "uncollectible")
    lifecycle.void(session, invoice_id, at)
    return True
