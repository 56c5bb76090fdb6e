"""Two closers at once (PostgreSQL): each period is invoiced once, numbers stay gapless."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import Engine

from metering.billing.invoices.close import CloseReport, close_due
from tests.metering.billing.invoices.helpers import OCTOBER, RULES, at, invoices, resolution, send
from tests.metering.conftest import VendorFixture, create_customer, create_plan

pytestmark = pytest.mark.postgres
CUSTOMERS = 40


@pytest.fixture(scope="module")
def backend() -> str:
    return "postgresql"


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_two_closers_make_one_invoice_per_period(
    engine: Engine, vendor: VendorFixture, batch_size: int
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    for n in range(CUSTOMERS):
        create_customer(engine, vendor.id, f"c{n}", plan, starts_at=OCTOBER)
    events = [resolution(f"r{n}", at(3), f"conv{n}", f"c{n}") for n in range(CUSTOMERS)]
    send(engine, vendor.id, events, at(25))
    start = threading.Barrier(2)

    def run(_: int) -> CloseReport:
        start.wait()
        return close_due(engine, at(5, month=12), batch_size=batch_size)

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(run, range(2)))

    found = invoices(engine)
    assert sum(len(report.invoices) for report in reports) == len(found) == 2 * CUSTOMERS
    assert sorted(invoice.number for invoice in found) == list(range(1, 2 * CUSTOMERS + 1))
    assert len({(i.customer_id, i.period_start) for i in found}) == 2 * CUSTOMERS
