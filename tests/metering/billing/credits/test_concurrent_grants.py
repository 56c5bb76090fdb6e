"""Concurrent voids, adjustments and draws of one grant (PostgreSQL, where they really run
at once): together they never take more than the grant holds."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.credits import service
from metering.billing.credits.models import CreditGrant
from metering.billing.credits.schemas import AdjustmentCreate
from metering.billing.invoices.close import close_due
from metering.platform.api.problems import ProblemError
from tests.metering.billing.credits.helpers import (
    RULES,
    assert_ledger_right,
    entries,
    grant,
    remaining,
    resolutions,
)
from tests.metering.billing.invoices.helpers import OCTOBER, at, invoices
from tests.metering.conftest import VendorFixture, create_customer, create_plan

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def backend() -> str:
    return "postgresql"


def at_once(*calls: Callable[[], object]) -> list[object]:
    """Run `calls` in threads released together; each one's result or the error it raised."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> object:
        start.wait()
        try:
            return call()
        except ProblemError as error:
            return error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _on_grant(
    engine: Engine, grant_id: str, change: Callable[[Session, CreditGrant], object]
) -> object:
    with Session(engine) as session:
        found = session.get(CreditGrant, grant_id)
        assert found is not None
        result = change(session, found)
        session.commit()
        return result


def setup(engine: Engine, vendor: VendorFixture, amount: str) -> tuple[str, str]:
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    return customer, grant(engine, customer, amount, at(1), name="Pack", effective_at=OCTOBER)


def test_two_voids_void_once(engine: Engine, vendor: VendorFixture) -> None:
    _, pack = setup(engine, vendor, "100.00")

    def void() -> object:
        return _on_grant(engine, pack, lambda s, g: service.void(s, g, at(2), None))

    results = at_once(void, void)

    assert sum(isinstance(r, ProblemError) for r in results) == 1
    assert entries(engine, pack) == [("grant", "100.00"), ("void", "-100.00")]
    assert_ledger_right(engine)


def test_two_adjustments_never_take_it_below_zero(engine: Engine, vendor: VendorFixture) -> None:
    _, pack = setup(engine, vendor, "100.00")
    take = AdjustmentCreate(amount="-60.00", reason="correction")

    def adjust() -> object:
        return _on_grant(engine, pack, lambda s, g: service.adjust(s, g, take, at(2)))

    results = at_once(adjust, adjust)

    assert sum(isinstance(r, ProblemError) for r in results) == 1
    assert remaining(engine, pack) == Decimal("40.00")
    assert_ledger_right(engine)


def test_a_void_during_a_close_takes_only_what_the_close_left(
    engine: Engine, vendor: VendorFixture
) -> None:
    _, pack = setup(engine, vendor, "100.00")
    resolutions(engine, vendor.id, "oct", 10, at(10))  # 45.00

    def void() -> object:
        return _on_grant(engine, pack, lambda s, g: service.void(s, g, at(5, month=11), None))

    at_once(lambda: close_due(engine, at(5, month=11)), void)

    [october] = invoices(engine)
    found = entries(engine, pack)
    if october.total == Decimal("0.00"):  # the close drew first
        assert found == [("grant", "100.00"), ("drawdown", "-45.00"), ("void", "-55.00")]
    else:  # the void came first: the customer pays it all
        assert october.total == Decimal("45.00")
        assert found == [("grant", "100.00"), ("void", "-100.00")]
    assert remaining(engine, pack) == Decimal(0)
    assert_ledger_right(engine)
