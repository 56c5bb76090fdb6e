"""The drawdown's rules on an invoice's lines, without a database: order, validity, never
below zero."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from metering.billing.credits.drawdown import replay, settle
from metering.billing.credits.ledger import LockedGrant
from metering.billing.invoices.rating import LineDraft

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)


def grant(name: str, amount: str, **fields: object) -> LockedGrant:
    values: dict[str, object] = {
        "id": f"crg_{name}",
        "vendor_id": "ven",
        "customer_id": "cus",
        "currency": "usd",
        "amount": Decimal(amount),
        "category": "promotional",
        "priority": 100,
        "effective_at": START,
        "expires_at": None,
        "applies_to": None,
        "name": name,
        "status": "active",
        "remaining": Decimal(amount),
        "created_at": START,
        "expired_at": None,
    }
    values.update(fields)
    return LockedGrant(**values)  # type: ignore[arg-type]


def line(key: str, amount: str, kind: str = "charge") -> LineDraft:
    return LineDraft(kind, key, key, None, None, Decimal(amount), START, END)


LINES = [line("charge:0:Resolutions", "80.00"), line("charge:1:Platform fee", "20.00")]


def drawn(grants: list[LockedGrant], lines: list[LineDraft]) -> list[tuple[str, str]]:
    settled = settle(grants, lines, (START, END), {}, END)
    return [(use.grant.label, str(use.amount)) for use in settled.uses]


def test_an_expiring_grant_goes_before_one_that_never_expires() -> None:
    forever = grant("forever", "60.00", created_at=START.replace(day=1))
    expiring = grant("expiring", "60.00", expires_at=END, created_at=START.replace(day=2))
    assert drawn([forever, expiring], LINES) == [("expiring", "-60.00"), ("forever", "-40.00")]


def test_the_oldest_effective_goes_first_at_equal_priority_and_expiry() -> None:
    older = grant("older", "30.00", effective_at=START.replace(month=10))
    newer = grant("newer", "30.00")
    assert drawn([newer, older], LINES) == [("older", "-30.00"), ("newer", "-30.00")]


def test_a_cap_keeps_the_invoice_at_zero_at_most() -> None:
    capped = [*LINES, line("maximum", "-30.00", kind="maximum")]
    assert drawn([grant("big", "500.00")], capped) == [("big", "-70.00")]


def test_validity_must_overlap_the_period() -> None:
    starts_at_end = grant("next", "50.00", effective_at=END)
    ended_at_start = grant("last", "50.00", effective_at=START.replace(month=10), expires_at=START)
    assert drawn([starts_at_end, ended_at_start], LINES) == []


def test_replay_carries_each_grants_balance_to_the_next_period_and_changes_no_grant() -> None:
    """November 100.00 then December 100.00 against A 150.00 (priority 10) and B 80.00:
    November A 100.00; December A its last 50.00, then B 50.00. The grants passed in keep
    their balances (a simulation draws on copies)."""
    a = grant("A", "150.00", priority=10)
    b = grant("B", "80.00")
    december = (END, datetime(2027, 1, 1, tzinfo=UTC))
    later = [
        LineDraft(x.kind, x.charge_key, x.description, None, None, x.amount, *december)
        for x in LINES
    ]

    settled = replay([a, b], [((START, END), LINES, END), (december, later, december[1])])

    assert [[(u.grant.label, str(u.amount)) for u in s.uses] for s in settled] == [
        [("A", "-100.00")],
        [("A", "-50.00"), ("B", "-50.00")],
    ]
    assert (a.remaining, b.remaining) == (Decimal("150.00"), Decimal("80.00"))
