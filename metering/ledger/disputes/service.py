"""Filing a dispute on an outcome, and the vendor accepting (credit) or rejecting it.

Accepting credits the outcome's key: its winner becomes `credited` (see
`metering.ledger.states`), so the current period's invoice leaves it out and, when its period
was already invoiced, the next close adds a credit line naming that invoice.
The customer may withdraw an open dispute: it is closed for good (`withdrawn`), the outcome
stays billed as it was, and the vendor hears of it as of any other closing
(`dispute.resolved`, with the status `withdrawn`). Each change enqueues its outbound webhook
in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from metering.catalog.customers.models import Customer
from metering.catalog.vendors.models import Vendor
from metering.ledger import states
from metering.ledger.disputes import repository
from metering.ledger.disputes.models import Dispute, DisputeStatus
from metering.ledger.disputes.schemas import DisputeOut
from metering.ledger.outcomes.models import Outcome
from metering.ledger.outcomes.service import resolve_keys
from metering.platform.api import problems
from metering.platform.api.problems import ProblemError, not_found
from metering.platform.db.ids import new_id
from metering.platform.db.locks import lock_names
from metering.platform.outbox.service import enqueue

MAX_REASON = 4000


def dispute_out(dispute: Dispute) -> DisputeOut:
    return DisputeOut.model_validate(dispute, from_attributes=True)


def _event_data(dispute: Dispute) -> dict[str, Any]:
    return dispute_out(dispute).model_dump(mode="json")


def outcome_of_customer(session: Session, customer: Customer, outcome_id: int) -> Outcome | None:
    """The customer's outcome row; another customer's is as unknown as a missing one."""
    row = session.get(Outcome, outcome_id)
    if row is None or row.customer_id != customer.id or row.vendor_id != customer.vendor_id:
        return None
    return row


def key_of_row(row: Outcome) -> repository.Key:
    return (row.customer_id, row.outcome, row.period_start, row.dedupe_key)


def file(
    session: Session, customer: Customer, outcome_id: int, reason: str, now: datetime
) -> Dispute:
    """Open a dispute on one of the customer's counted outcomes (pending, billable or billed).

    404 for an outcome the customer does not have; 409 when it is not counted or already
    has an open dispute; 422 for an empty or overlong reason.
    """
    text = reason.strip()
    if not text or len(text) > MAX_REASON:
        raise problems.INVALID_REASON.error(
            f"Say why the outcome is disputed, in 1 to {MAX_REASON} characters."
        )
    row = outcome_of_customer(session, customer, outcome_id)
    if row is None or row.id is None:
        raise not_found("outcome", str(outcome_id))
    if not states.COUNTED.holds(row):
        raise problems.NOT_DISPUTABLE.error(
            f"Outcome {outcome_id} is {row.state}, not billed: only counted outcomes can be "
            "disputed."
        )
    if repository.open_dispute(session, key_of_row(row)) is not None:
        raise _already_open(outcome_id)
    dispute = Dispute(
        id=new_id("dsp"),
        vendor_id=row.vendor_id,
        customer_id=row.customer_id,
        outcome_id=row.id,
        outcome=row.outcome,
        period_start=row.period_start,
        dedupe_key=row.dedupe_key,
        event_id=row.event_id,
        reason=text,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(dispute)
    except IntegrityError:  # another filing of the same key committed first
        raise _already_open(outcome_id) from None
    enqueue(session, dispute.vendor_id, "outcome.disputed", _event_data(dispute))
    return dispute


def _already_open(outcome_id: int) -> ProblemError:
    return problems.DISPUTE_OPEN.error(
        f"Outcome {outcome_id} already has an open dispute; wait for the vendor's answer."
    )


def get_or_404(session: Session, vendor: Vendor, dispute_id: str) -> Dispute:
    """The vendor's dispute; another vendor's is as unknown as a missing one."""
    dispute = session.get(Dispute, dispute_id)
    if dispute is None or dispute.vendor_id != vendor.id:
        raise not_found("dispute", dispute_id)
    return dispute


def _open_for_resolution(session: Session, vendor: Vendor, dispute_id: str) -> Dispute:
    """The vendor's open dispute, locked with its (customer, outcome); 409 once resolved."""
    found = get_or_404(session, vendor, dispute_id)
    lock_names(session, [(found.customer_id, found.outcome)])
    dispute = repository.lock(session, dispute_id)
    assert dispute is not None
    if dispute.status != DisputeStatus.OPEN.value:
        raise problems.DISPUTE_RESOLVED.error(
            f"Dispute '{dispute_id}' was already {dispute.status}; a dispute is resolved once."
        )
    return dispute


def _resolve(dispute: Dispute, status: DisputeStatus, note: str | None, now: datetime) -> None:
    dispute.status = status.value
    dispute.resolution_note = note
    dispute.resolved_at = now


def accept(
    session: Session, vendor: Vendor, dispute_id: str, note: str | None, now: datetime
) -> Dispute:
    """Accept: the outcome's key is credited (left out of its period, or credited on the
    next invoice when its period was invoiced already)."""
    dispute = _open_for_resolution(session, vendor, dispute_id)
    _resolve(dispute, DisputeStatus.ACCEPTED, note, now)
    session.add(dispute)
    session.flush()
    resolve_keys(session, [repository.key_of(dispute)], now)
    enqueue(session, dispute.vendor_id, "dispute.resolved", _event_data(dispute))
    return dispute


def reject(session: Session, vendor: Vendor, dispute_id: str, note: str, now: datetime) -> Dispute:
    """Reject: the outcome stays billed; the note tells the customer why."""
    dispute = _open_for_resolution(session, vendor, dispute_id)
    _resolve(dispute, DisputeStatus.REJECTED, note, now)
    session.add(dispute)
    session.flush()
    enqueue(session, dispute.vendor_id, "dispute.resolved", _event_data(dispute))
    return dispute


def withdraw(session: Session, customer: Customer, dispute_id: str, now: datetime) -> Dispute:
    """The customer takes back its open dispute: 404 for a dispute it does not have, 409 once
    the dispute is closed (accepted, rejected or withdrawn)."""
    found = session.get(Dispute, dispute_id)
    if found is None or found.customer_id != customer.id or found.vendor_id != customer.vendor_id:
        raise not_found("dispute", dispute_id)
    lock_names(session, [(found.customer_id, found.outcome)])
    dispute = repository.lock(session, dispute_id)
    assert dispute is not None
    if dispute.status != DisputeStatus.OPEN.value:
        raise problems.DISPUTE_RESOLVED.error(
            f"Dispute '{dispute_id}' was already {dispute.status}; only an open dispute can be "
            "withdrawn."
        )
    _resolve(dispute, DisputeStatus.WITHDRAWN, None, now)
    session.add(dispute)
    session.flush()
    enqueue(session, dispute.vendor_id, "dispute.resolved", _event_data(dispute))
    return dispute
