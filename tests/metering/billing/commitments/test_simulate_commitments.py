"""`rules simulate` with commitments: the current side carries the term's consumption across
periods and equals the invoices; a proposal shows what another commitment would have billed
(both DBs)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.catalog.plans.models import Plan
from metering.surfaces.simulation.readonly import read_only_session
from metering.surfaces.simulation.service import simulate
from pricing_rules.loader import load_rules
from tests.metering.billing.commitments.helpers import RULES, YEAR
from tests.metering.billing.commitments.test_zendesk_term import through_september
from tests.metering.billing.invoices.helpers import invoices
from tests.metering.conftest import VendorFixture

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)


def test_simulating_another_commitment_on_the_term_so_far(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    through_september(engine, vendor)
    issued = sum((invoice.total for invoice in invoices(engine)), Decimal(0))
    # Ten committed instead of twelve: September has 1 under and 4 over (at 1.20).
    proposed = RULES.replace("version: 1", "version: 3").replace(
        "resolved_conversation: 12", "resolved_conversation: 10"
    )
    with Session(engine) as session:
        plan_id = session.exec(select(Plan.id)).one()
    with read_only_session(database_url) as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        result = simulate(
            session, plan, load_rules(proposed), YEAR, OCTOBER, datetime(2026, 10, 10, tzinfo=UTC)
        )

    [customer] = result.customers
    assert customer.current == issued == Decimal("108.60")
    # Jan to Aug as billed (9 invoices of 10.50), September 10.00 + 0.50 + 4.80.
    assert customer.proposed == Decimal("94.50") + Decimal("15.30")
