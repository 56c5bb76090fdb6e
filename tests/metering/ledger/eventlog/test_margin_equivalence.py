"""The same events through a vendor without the event log and one with it give the same
margin report to the cent; the second keeps its cost-only events only in ClickHouse."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from metering.billing.invoices.close import close_due
from metering.billing.invoices.models import Invoice
from metering.catalog.customers.models import Customer
from metering.ledger.events.models import StoredEvent
from metering.notify.alerts.evaluation import evaluate
from metering.surfaces.reports.margin import MarginReport
from metering.surfaces.reports.service import margin_report
from tests.metering.billing.invoices.helpers import summary
from tests.metering.conftest import create_customer, create_plan, create_vendor
from tests.metering.ledger.eventlog.helpers import set_eventlog
from tests.metering.ledger.events.helpers import ingest_all
from tests.metering.notify.alerts.helpers import add_alert
from tests.metering.surfaces.reports.helpers import (
    CLOSED,
    NOVEMBER,
    REPORTED,
    RULES,
    at,
    call,
    money,
    month_of_conversations,
    tokens,
)


def _vendor(engine: Engine, name: str, eventlog: bool) -> str:
    vendor_id = create_vendor(engine, name).id
    set_eventlog(engine, vendor_id, eventlog)
    plan = create_plan(engine, vendor_id, RULES)
    create_customer(engine, vendor_id, "acme", plan)
    create_customer(engine, vendor_id, "globex", plan)
    return vendor_id


def _events() -> list[dict[str, Any]]:
    more = [
        call("g-1", "c-1", tokens("small", 123_457, 98_765), at(14, 9), customer="globex"),
        call("g-2", "none", money("0.000000000000000007"), at(15, 9), customer="globex"),
        call("late", "c-1", money("1.23"), at(20, 9, month=10)),  # October: not in the report
    ]
    return month_of_conversations() + more


def _figures(report: MarginReport) -> list[Any]:
    rows = [
        (
            row.customer,
            row.revenue_source,
            row.revenue,
            row.attributed_cost,
            row.unbilled_cost,
            row.margin,
            dict(row.unpriced),
            sorted(
                (o.outcome, o.settled, o.pending, o.revenue, o.cost) for o in row.outcomes.values()
            ),
        )
        for row in report.customers
    ]
    totals = [(t.currency, t.revenue, t.cost, t.margin) for t in report.totals]
    return [rows, totals]


def _stored(engine: Engine, vendor_id: str) -> int:
    with Session(engine) as session:
        statement = select(func.count()).where(StoredEvent.vendor_id == vendor_id)
        return session.exec(statement).one()


def test_the_margin_report_is_the_same_to_the_cent(engine: Engine, eventlog_url: str) -> None:
    plain = _vendor(engine, "Plain", eventlog=False)
    logged = _vendor(engine, "Logged", eventlog=True)
    for vendor_id in (plain, logged):
        ingest_all(engine, vendor_id, _events(), REPORTED)
        ingest_all(engine, vendor_id, _events()[::3], REPORTED)  # a client's retry

    with Session(engine) as session:
        expected = margin_report(session, plain, "2026-11", REPORTED)
        found = margin_report(session, logged, "2026-11", REPORTED)
    assert _figures(found) == _figures(expected)
    acme = next(row for row in found.customers if row.customer == "acme")
    assert acme.cost == Decimal("0.078")  # the hand-computed figure of the SQL path's tests
    # model calls are cost-only: the SQL store of the event-log vendor keeps the 3 others
    assert (_stored(engine, plain), _stored(engine, logged)) == (13, 3)


def _invoices(engine: Engine, vendor_id: str) -> list[Any]:
    with Session(engine) as session:
        found = session.exec(
            select(Invoice)
            .where(Invoice.vendor_id == vendor_id, Invoice.period_start == NOVEMBER)
            .order_by(col(Invoice.total))
        ).all()
        customers = {c.id: c.external_id for c in session.exec(select(Customer)).all()}
        made = [(customers[i.customer_id], i.period_start, i.status, i.total, i.id) for i in found]
    return [(*invoice[:4], summary(engine, invoice[4])) for invoice in made]


def test_invoices_and_alerts_are_the_same_to_the_cent(engine: Engine, eventlog_url: str) -> None:
    plain = _vendor(engine, "Plain", eventlog=False)
    logged = _vendor(engine, "Logged", eventlog=True)
    fired = {}
    for vendor_id in (plain, logged):
        ingest_all(engine, vendor_id, _events(), REPORTED)
        add_alert(engine, vendor_id, kind="spend", threshold="20.50", plan="support-agent")
        found = evaluate(engine, now=REPORTED, vendor_id=vendor_id)
        fired[vendor_id] = sorted((f.kind, f.period_start, f.figure, f.threshold) for f in found)
    close_due(engine, CLOSED)

    assert fired[logged] == fired[plain]
    # acme: the 20.00 fee and c-1's resolution (c-3 was reopened): 20.99
    assert fired[logged] == [("spend", NOVEMBER, Decimal("20.99"), Decimal("20.50"))]
    assert _invoices(engine, logged) == _invoices(engine, plain)
    totals = sorted((row[0], row[3]) for row in _invoices(engine, logged))
    assert totals == [("acme", Decimal("20.99")), ("globex", Decimal("20.00"))]
