"""Expiry: what is left once no period the grant can pay remains open; once (both DBs)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from metering.billing.credits.expiry import expire_due
from tests.metering.billing.credits.helpers import (
    RULES,
    assert_ledger_right,
    entries,
    grant,
    remaining,
    resolutions,
)
from tests.metering.billing.invoices.helpers import close, invoices, summary
from tests.metering.conftest import VendorFixture, create_customer, create_plan

TOKYO = ZoneInfo("Asia/Tokyo")
TOKYO_RULES = RULES.replace("timezone: UTC", "timezone: Asia/Tokyo")


def tokyo(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TOKYO)


def test_a_grant_expiring_at_a_tokyo_period_boundary_pays_only_the_period_before(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, TOKYO_RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=tokyo(10, 1))
    pack = grant(
        engine,
        customer,
        "100.00",
        tokyo(10, 1),
        name="October pack",
        effective_at=tokyo(10, 1),
        expires_at=tokyo(11, 1),  # 2026-10-31T15:00Z: the Tokyo month boundary
    )
    resolutions(engine, vendor.id, "oct", 10, tokyo(10, 31, 20))
    # 01:00 in Tokyo on November 1st is still October 31st in UTC: November's.
    resolutions(engine, vendor.id, "nov", 4, tokyo(11, 1, 1))

    # October is not closed yet (72h late window): the grant may still pay it.
    assert expire_due(engine, tokyo(11, 2)) == 0
    assert remaining(engine, pack) == Decimal("100.00")

    close(engine, tokyo(11, 5))
    [october] = invoices(engine)
    assert summary(engine, october.id) == [
        ("charge", "Resolutions", "25.00"),
        ("charge", "Platform fee", "20.00"),
        ("credits", "Credits: October pack", "-45.00"),
    ]
    assert october.total == Decimal("0.00")

    assert expire_due(engine, tokyo(11, 5)) == 1
    assert expire_due(engine, tokyo(11, 6)) == 0  # once
    assert entries(engine, pack) == [
        ("grant", "100.00"),
        ("drawdown", "-45.00"),
        ("expiry", "-55.00"),
    ]

    close(engine, tokyo(12, 5))
    _, november = invoices(engine)
    # 4 x 2.50 + 20.00, nothing from the grant: it expired when November started.
    assert summary(engine, november.id) == [
        ("charge", "Resolutions", "10.00"),
        ("charge", "Platform fee", "20.00"),
    ]
    assert november.total == Decimal("30.00")
    assert_ledger_right(engine)


def test_a_late_expiry_job_still_takes_only_what_is_left(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    start = datetime(2026, 10, 1, tzinfo=ZoneInfo("UTC"))
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=start)
    pack = grant(
        engine, customer, "30.00", start, effective_at=start, expires_at=start + timedelta(days=10)
    )
    resolutions(engine, vendor.id, "oct", 2, start + timedelta(days=20))
    # The close comes after expires_at: October overlaps the grant, so it pays 25.00.
    close(engine, start + timedelta(days=40))
    assert expire_due(engine, start + timedelta(days=90)) == 1
    assert entries(engine, pack) == [
        ("grant", "30.00"),
        ("drawdown", "-25.00"),
        ("expiry", "-5.00"),
    ]
    assert remaining(engine, pack) == Decimal(0)
    assert_ledger_right(engine)
