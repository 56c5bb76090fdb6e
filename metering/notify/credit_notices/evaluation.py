"""Credit notices, edge-triggered like the alerts: each is sent once when its condition
becomes true, through the outbox in the transaction that records it.

- `credits.low`: a currency's available balance is below the vendor's threshold for it;
- `credits.depleted`: it is zero (the customer holds grants in that currency);
  both are told again after the balance was back above (their notice row is then deleted);
- `credits.expiring`: a grant with something left expires within the vendor's N days;
- `credits.expired`: a grant's expiry took what was left (once per grant).

A notice row is inserted with ON CONFLICT DO NOTHING before its event is queued, so two
processes evaluating at once send each notice once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.credits.models import CreditGrant, GrantStatus
from metering.catalog.customers.models import Customer
from metering.notify.credit_notices.models import CreditNotice, CreditNoticeSettings, NoticeKind
from metering.platform.db.ids import new_id
from metering.platform.outbox.models import EventType
from metering.platform.outbox.service import enqueue
from pricing_rules.engine import money_text
from pricing_rules.money import minor_units

GRANTS: sa.Table = CreditGrant.__table__  # type: ignore[attr-defined]
NOTICES: sa.Table = CreditNotice.__table__  # type: ignore[attr-defined]
CUSTOMERS: sa.Table = Customer.__table__  # type: ignore[attr-defined]
SETTINGS: sa.Table = CreditNoticeSettings.__table__  # type: ignore[attr-defined]
DEFAULT_EXPIRING_DAYS = 7

EVENTS = {
    NoticeKind.LOW: EventType.CREDITS_LOW,
    NoticeKind.DEPLETED: EventType.CREDITS_DEPLETED,
    NoticeKind.EXPIRING: EventType.CREDITS_EXPIRING,
    NoticeKind.EXPIRED: EventType.CREDITS_EXPIRED,
}


def _money(amount: Decimal, currency: str) -> str:
    return money_text(amount, minor_units(currency))


def _usable(grant: Any, now: datetime) -> bool:
    return bool(
        grant.effective_at <= now
        and grant.expired_at is None
        and (grant.expires_at is None or grant.expires_at > now)
    )


def _send(
    session: Session,
    vendor_id: str,
    customer_id: str,
    kind: NoticeKind,
    subject: str,
    data: dict[str, Any],
    now: datetime,
) -> bool:
    """Record the notice unless it was sent; queue its event if recorded now."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    made = session.execute(
        insert(NOTICES)
        .values(
            id=new_id("crn"),
            vendor_id=vendor_id,
            customer_id=customer_id,
            kind=kind.value,
            subject=subject,
            sent_at=now,
        )
        .on_conflict_do_nothing(index_elements=["customer_id", "kind", "subject"])
        .returning(NOTICES.c.id)
    ).first()
    if made is not None:
        enqueue(session, vendor_id, EVENTS[kind].value, data)
    return made is not None


def _rearm(session: Session, customer_id: str, kind: NoticeKind, subject: str) -> None:
    session.execute(
        sa.delete(NOTICES).where(
            NOTICES.c.customer_id == customer_id,
            NOTICES.c.kind == kind.value,
            NOTICES.c.subject == subject,
        )
    )


def evaluate(engine: Engine, now: datetime) -> list[tuple[str, str, str]]:
    """Send the notices due at `now`; each sent as (customer id, kind, subject)."""
    with Session(engine) as session:
        sent = _evaluate(session, now)
        session.commit()
    return sent


def _evaluate(session: Session, now: datetime) -> list[tuple[str, str, str]]:
    grants = session.execute(
        sa.select(GRANTS).where(GRANTS.c.status == GrantStatus.ACTIVE.value)
    ).all()
    if not grants:
        return []
    customer_ids = sorted({g.customer_id for g in grants})
    external = dict(
        session.execute(
            sa.select(CUSTOMERS.c.id, CUSTOMERS.c.external_id).where(
                CUSTOMERS.c.id.in_(customer_ids)
            )
        ).all()
    )
    settings = {
        row.vendor_id: row
        for row in session.execute(
            sa.select(SETTINGS).where(SETTINGS.c.vendor_id.in_({g.vendor_id for g in grants}))
        )
    }
    told = {
        (row.customer_id, row.kind, row.subject)
        for row in session.execute(
            sa.select(NOTICES.c.customer_id, NOTICES.c.kind, NOTICES.c.subject).where(
                NOTICES.c.customer_id.in_(customer_ids)
            )
        )
    }
    sent: list[tuple[str, str, str]] = []

    def send(grant: Any, kind: NoticeKind, subject: str, data: dict[str, Any]) -> None:
        if (grant.customer_id, kind.value, subject) in told:
            return
        base = {"customer_id": grant.customer_id, "customer": external[grant.customer_id]}
        if _send(session, grant.vendor_id, grant.customer_id, kind, subject, base | data, now):
            sent.append((grant.customer_id, kind.value, subject))

    balances: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    holders: dict[tuple[str, str], Any] = {}
    for grant in grants:
        key = (grant.customer_id, grant.currency)
        holders.setdefault(key, grant)
        if _usable(grant, now):
            balances[key] += grant.remaining
    for (customer_id, currency), grant in sorted(holders.items()):
        available = balances[(customer_id, currency)]
        vendor = settings.get(grant.vendor_id)
        low_below = (vendor.low_below if vendor is not None else {}).get(currency)
        figures = {"currency": currency, "available": _money(available, currency)}
        for kind, crossed, extra in (
            (NoticeKind.DEPLETED, available <= 0, {}),
            (
                NoticeKind.LOW,
                low_below is not None and available < Decimal(low_below),
                {"threshold": low_below},
            ),
        ):
            if crossed:
                send(grant, kind, currency, figures | extra)
            elif (customer_id, kind.value, currency) in told:
                _rearm(session, customer_id, kind, currency)
    for grant in grants:
        _grant_notices(grant, settings.get(grant.vendor_id), now, send)
    return sent


def _grant_notices(grant: Any, vendor: Any, now: datetime, send: Any) -> None:
    """`credits.expiring` within the vendor's days, `credits.expired` once it was."""
    days = vendor.expiring_days if vendor is not None else DEFAULT_EXPIRING_DAYS
    data = {
        "grant": grant.id,
        "name": grant.name,
        "currency": grant.currency,
        "expires_at": grant.expires_at,
    }
    if grant.expired_at is not None:
        send(grant, NoticeKind.EXPIRED, grant.id, data | {"expired_at": grant.expired_at})
        return
    soon = grant.expires_at is not None and now < grant.expires_at <= now + timedelta(days=days)
    if soon and grant.remaining > 0 and grant.effective_at <= now:
        remaining = _money(grant.remaining, grant.currency)
        send(grant, NoticeKind.EXPIRING, grant.id, data | {"remaining": remaining})
