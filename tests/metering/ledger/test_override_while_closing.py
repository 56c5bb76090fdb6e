"""A back-dated override waits for a close invoicing the period it reaches into, then sees
that period invoiced and is refused: never a period billed twice (PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from metering.catalog.subscriptions.models import Subscription
from metering.platform.api.problems import ProblemError
from tests.metering.billing.invoices.helpers import OCTOBER, at
from tests.metering.conftest import VendorFixture
from tests.metering.ledger.test_overrides import HALF_PRICE, acme, override

pytestmark = pytest.mark.postgres

__all__ = ["acme"]  # the fixture, used by name


@pytest.fixture(scope="module")
def backend() -> str:
    return "postgresql"


def _someone_waits_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        ).scalar_one()
    return bool(waiting)


def test_an_override_into_a_period_being_invoiced_waits_and_is_refused(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    closing = Session(engine)  # what the close's claim does: lock the row, bill October
    (sub,) = closing.exec(
        sa.select(Subscription).where(col(Subscription.customer_id) == acme).with_for_update()
    ).one()
    sub.billed_through = at(1, 0, month=11)
    closing.add(sub)
    closing.flush()
    outcome: list[BaseException | None] = []

    def give() -> None:
        try:
            override(engine, acme, HALF_PRICE, at(20, 0), at(2, month=11))
            outcome.append(None)
        except BaseException as error:  # handed to the test's thread
            outcome.append(error)

    worker = threading.Thread(target=give)
    worker.start()
    for _ in range(600):  # until the override blocks on the row (or, wrongly, finishes)
        if outcome or _someone_waits_for_a_lock(engine):
            break
        time.sleep(0.05)
    assert not outcome, "the override must wait for the close holding the subscription"
    closing.commit()
    closing.close()
    worker.join(timeout=30)
    (error,) = outcome
    assert isinstance(error, ProblemError) and error.status == 422
    assert "is in a period already invoiced" in str(error)
    with Session(engine) as session:
        subs = session.exec(sa.select(Subscription).where(col(Subscription.customer_id) == acme))
        assert [(s.starts_at, s.ends_at) for (s,) in subs] == [(OCTOBER, None)]
