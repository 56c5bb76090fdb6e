"""Reading invoices for the API, voiding one, and the upcoming invoice of a customer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from metering.billing.credits.drawdown import project
from metering.billing.invoices import lifecycle, repository
from metering.billing.invoices.announce import payment_error
from metering.billing.invoices.corrections import correct_period, rest_after_interim
from metering.billing.invoices.live import LiveRating, rate_live
from metering.billing.invoices.models import Invoice, InvoiceLine, InvoiceStatus
from metering.billing.invoices.periods import subscription_period
from metering.billing.invoices.rating import LineDraft
from metering.billing.invoices.schemas import (
    InvoiceDetail,
    InvoiceLineOut,
    InvoiceOut,
    LineOutcomeOut,
    PendingOutcomes,
    UpcomingInvoice,
    UpcomingLine,
)
from metering.billing.invoices.usage import OutcomeTally, id_count
from metering.billing.payments import links, received, sync
from metering.billing.payments.models import InvoicePaymentLink, SyncState
from metering.billing.payments.schemas import PaymentCreate, PaymentError
from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.subscriptions.models import Subscription
from metering.catalog.subscriptions.service import in_force
from metering.catalog.vendors.models import Vendor
from metering.ledger.outcomes.models import Outcome
from metering.ledger.outcomes.stale import stale_marks
from metering.platform.api import problems
from metering.platform.api.pagination import decode_cursor, encode_cursor, invalid_cursor
from metering.platform.api.problems import not_found
from pricing_rules.engine import decimal_text, money_text
from pricing_rules.money import minor_units
from pricing_rules.periods import Period
from pricing_rules.rules import RuleFile


def get_or_404(session: Session, vendor: Vendor, invoice_id: str) -> Invoice:
    """The vendor's invoice; another vendor's is as unknown as a missing one."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.vendor_id != vendor.id:
        raise not_found("invoice", invoice_id)
    return invoice


def _money(amount: Decimal, currency: str) -> str:
    return money_text(amount, minor_units(currency))


def _quantity(quantity: Decimal | None) -> str | None:
    return None if quantity is None else decimal_text(quantity)


# The API's `stripe_*` fields name the provider they predate: they show a Stripe link's ids.
STRIPE = "stripe"


def _payment_fields(link: InvoicePaymentLink | None) -> dict[str, Any]:
    """The invoice's state at its payment provider, as the API has always shown it."""
    if link is None:  # no provider has anything to do for it yet
        return {
            "sync_state": SyncState.NOT_STARTED.value,
            "sync_error": None,
            "next_sync_at": None,
            "stripe_invoice_id": None,
            "stripe_hosted_url": None,
            "payment_provider": None,
        }
    stripe = link.provider == STRIPE
    return {
        "sync_state": link.step,
        "sync_error": link.error,
        "next_sync_at": link.next_attempt_at,
        "stripe_invoice_id": link.external_id if stripe else None,
        "stripe_hosted_url": link.hosted_url if stripe else None,
        "payment_provider": link.provider,
    }


def _collected(invoice: Invoice, link: InvoicePaymentLink | None, paid: Decimal) -> dict[str, Any]:
    """What is paid and due, and why the payment failed while it has."""
    status = InvoiceStatus(invoice.status)
    owed = links.owed(invoice.total, link)
    if status == InvoiceStatus.PAID:
        paid = max(owed, paid, Decimal(0))
    due = Decimal(0) if status in (InvoiceStatus.PAID, InvoiceStatus.VOID) else owed - paid
    failed = status == InvoiceStatus.PAYMENT_FAILED and link is not None
    tax = link.tax if link is not None else None
    return {
        "tax": None if tax is None else _money(tax, invoice.currency),
        "tax_lines": (link.tax_lines or []) if tax is not None and link is not None else [],
        "total_with_tax": _money(owed, invoice.currency),
        "amount_paid": _money(paid, invoice.currency),
        "amount_due": _money(max(due, Decimal(0)), invoice.currency),
        "payment_error": PaymentError(**payment_error(link)) if failed else None,
    }


def invoice_out(
    invoice: Invoice, link: InvoicePaymentLink | None, paid: Decimal = Decimal(0)
) -> InvoiceOut:
    return InvoiceOut(
        **invoice.model_dump(exclude={"total"}),
        **_payment_fields(link),
        **_collected(invoice, link, paid),
        total=_money(invoice.total, invoice.currency),
    )


def invoices_out(session: Session, invoices: Sequence[Invoice]) -> list[InvoiceOut]:
    """A page of invoices, with their payment links and payments read in one query each."""
    ids = [invoice.id for invoice in invoices]
    found = links.of_invoices(session, ids)
    paid = received.amounts_paid(session, ids)
    return [
        invoice_out(invoice, found.get(invoice.id), paid.get(invoice.id, Decimal(0)))
        for invoice in invoices
    ]


def line_out(line: InvoiceLine, currency: str, item_id: str | None) -> InvoiceLineOut:
    """A stored line: the fields a draft shows, with its id, position and provider item."""
    return InvoiceLineOut(
        **upcoming_line(line, currency).model_dump(),
        id=line.id,
        position=line.position,
        stripe_item_id=item_id,
    )


def invoice_detail(session: Session, invoice: Invoice) -> InvoiceDetail:
    rows = repository.lines_of(session, invoice.id)
    items = links.item_ids(session, [line.id for line in rows])
    lines = [line_out(line, invoice.currency, items.get(line.id)) for line in rows]
    (shown,) = invoices_out(session, [invoice])
    payments = [received.payment_out(p) for p in received.payments_of(session, invoice.id)]
    return InvoiceDetail(**shown.model_dump(), lines=lines, payments=payments)


def void(session: Session, invoice: Invoice, now: datetime) -> Invoice:
    """Void an invoice (again: nothing changes); a paid one is a 409.

    Its payment provider voids it there too, and the periods it corrected are marked stale,
    so the customer's next close bills those corrections again (`lifecycle.void`).
    """
    if invoice.status == InvoiceStatus.PAID.value:
        raise problems.INVOICE_PAID.error(
            f"Invoice '{invoice.id}' is paid and cannot be voided; refund the payment in "
            "Stripe instead."
        )
    if lifecycle.void(session, invoice.id, now):
        session.refresh(invoice)
    return invoice


def retry_sync(session: Session, invoice: Invoice, now: datetime) -> None:
    """Make the invoice's payment sync due now; nothing to retry is a 409."""
    try:
        sync.retry_sync(session, invoice, now)
    except sync.SyncNotRetryable as error:
        raise problems.NOTHING_TO_RETRY.error(str(error)) from None


def record_payment(
    session: Session, invoice: Invoice, data: PaymentCreate, now: datetime
) -> received.Recorded:
    """Record a payment received outside the provider (see `payments.received`)."""
    return received.record(session, invoice, data, now)


def line_or_404(session: Session, invoice: Invoice, line_id: str) -> InvoiceLine:
    line = session.get(InvoiceLine, line_id)
    if line is None or line.invoice_id != invoice.id:
        raise not_found("line", line_id)
    return line


def line_outcomes(
    session: Session, line: InvoiceLine, cursor: str | None, limit: int
) -> tuple[list[LineOutcomeOut], str | None]:
    """A page of the outcome rows behind a line, by row id."""
    ids = sorted(line.outcome_ids)
    if cursor is not None:
        after = decode_cursor(cursor)
        if not isinstance(after, int):
            raise invalid_cursor(cursor, "is not a cursor of this list")
        ids = [i for i in ids if i > after]
    page = ids[:limit]
    rows = session.exec(select(Outcome).where(col(Outcome.id).in_(page))).all()
    by_id = {row.id: row for row in rows}
    data = [
        LineOutcomeOut(
            id=row_id,
            event_id=row.event_id,
            outcome=row.outcome,
            state=row.state,
            occurred_at=row.occurred_at,
            settles_at=row.settles_at,
            dedupe_key=row.dedupe_key,
            value=row.measured(),
        )
        for row_id in page
        if (row := by_id.get(row_id)) is not None
    ]
    next_cursor = encode_cursor(page[-1]) if len(ids) > limit else None
    return data, next_cursor


def subscription_in_force(session: Session, customer: Customer, now: datetime) -> Subscription:
    found = in_force(subscriptions.of_customer(session, customer.id), now)
    if found is None:
        raise problems.NO_SUBSCRIPTION.error(
            f"Customer '{customer.id}' has no plan in force now; subscribe it with "
            f"POST /v1/customers/{customer.id}/plan."
        )
    return found


def upcoming_line(
    line: LineDraft | InvoiceLine, currency: str, outcome_count: int | None = None
) -> UpcomingLine:
    """A line as the API shows it; `outcome_count` when the line was rated without its ids."""
    return UpcomingLine(
        kind=line.kind,
        charge_key=line.charge_key,
        description=line.description,
        outcome=line.outcome,
        quantity=_quantity(line.quantity),
        amount=_money(line.amount, currency),
        detail=line.detail,
        period_start=line.period_start,
        period_end=line.period_end,
        corrects_invoice_id=line.corrects_invoice_id,
        outcome_count=id_count(line.outcome_ids) if outcome_count is None else outcome_count,
    )


def pending_corrections(
    session: Session, customer: Customer, now: datetime, current: datetime, currency: str
) -> list[LineDraft]:
    """The corrections of the customer's stale periods, as of `now`, without writing (those
    of periods billed in another currency wait, as the close leaves them)."""
    marks = stale_marks(session, [customer.id])
    periods = [(c, start) for c, start in marks if start != current]
    lines: list[LineDraft] = []
    for invoice in repository.invoices_of_periods(session, periods).get(customer.id, []):
        if invoice.status != InvoiceStatus.VOID.value and invoice.currency == currency:
            rules = rules_of(session, invoice.plan_version_id)
            lines.extend(correct_period(session, invoice, rules, now).lines)
    return lines


def _billable_count(line: LineDraft, tallies: Mapping[str, OutcomeTally]) -> int:
    """The outcomes a live line counts: its outcome's, or its `group_by` value's."""
    tally = tallies.get(line.outcome or "")
    if tally is None:
        return 0
    group = line.detail.get("group")
    if group is not None:
        found = tally.groups.get(group["value"])
        return found.billable if found is not None else 0
    return tally.billable


def upcoming(
    session: Session, customer: Customer, now: datetime, rated: LiveRating | None = None
) -> UpcomingInvoice:
    """The period containing `now`, priced as of `now`, with what is pending apart.

    `rated`: that period already rated as of `now` (`rate_live`), when the caller has it."""
    subscription = subscription_in_force(session, customer, now)
    rules = rules_of(session, subscription.plan_version_id)
    period = subscription_period(subscription, rules, now)
    if rated is None:
        rated = rate_live(session, rules, [customer.id], period, now)[customer.id]
    [found] = upcoming_at(session, customer, subscription, rules, period, [(now, rated)])
    return found


def upcoming_at(
    session: Session,
    customer: Customer,
    subscription: Subscription,
    rules: RuleFile,
    period: Period,
    rated: Sequence[tuple[datetime, LiveRating]],
) -> list[UpcomingInvoice]:
    """The upcoming invoice of `period` as of each instant with the period's rating then (the
    portal's now and once every pending outcome settles): the subscription, plan and
    interim invoice are read once for all of them."""
    interim = repository.interims_of(session, [customer.id], period.start).get(customer.id)
    found = []
    for now, rating in rated:
        tallies, lines = rating.tallies, rating.lines
        if interim is not None:  # threshold invoicing billed part of it already
            lines = rest_after_interim(session, interim, period, rules, now)
        corrections = pending_corrections(session, customer, now, period.start, rules.currency)
        pending = [
            PendingOutcomes(
                outcome=name, count=tally.pending, next_settles_at=tally.next_settles_at
            )
            for name, tally in sorted(tallies.items())
            if tally.pending and tally.next_settles_at is not None
        ]
        current = (period.start, period.end)
        credits = project(
            session, customer.id, rules.currency, [*lines, *corrections], current, now
        )
        total = sum((line.amount for line in [*lines, *corrections, *credits]), Decimal(0))
        found.append(
            UpcomingInvoice(
                customer_id=customer.id,
                subscription_id=subscription.id,
                plan_version_id=subscription.plan_version_id,
                currency=rules.currency,
                period_start=period.start,
                period_end=period.end,
                as_of=now,
                closes_at=period.end + rules.billing.close_after,
                lines=[
                    upcoming_line(line, rules.currency, _billable_count(line, tallies))
                    for line in lines
                ],
                corrections=[upcoming_line(line, rules.currency) for line in corrections],
                credits=[upcoming_line(line, rules.currency) for line in credits],
                pending=pending,
                total=_money(total, rules.currency),
            )
        )
    return found
