"""A plan change waits for ingestion batches of its customer that matched events under the
old subscription, so no event keeps rows of a version no longer in force (PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.catalog.subscriptions.schemas import Effective
from metering.ledger.events.service import ingest
from tests.metering.catalog.subscriptions.support import (
    at,
    outcome_rows,
    plan_with_versions,
    resolution,
    spans,
    subscribe,
)
from tests.metering.conftest import VendorFixture, create_customer
from tests.metering.ledger.events.helpers import LIMITS

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def backend() -> str:
    return "postgresql"


def test_an_immediate_change_waits_for_a_batch_in_flight(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan_id = plan_with_versions(engine, vendor.id, 2)
    acme = create_customer(engine, vendor.id, "acme", plan_id)  # on version 2
    batch = Session(engine)
    ingest(batch, vendor.id, [resolution("r1", "2026-11-12T09:00")], at("2026-11-12T10:00"), LIMITS)
    done = threading.Event()

    def change() -> None:
        subscribe(
            engine, vendor.id, acme, "2026-11-10T12:00", version=1, effective=Effective.IMMEDIATELY
        )
        done.set()

    worker = threading.Thread(target=change)
    worker.start()
    time.sleep(0.5)
    assert not done.is_set(), "the change must wait for the batch holding acme"
    batch.commit()
    batch.close()
    worker.join(timeout=30)
    assert done.is_set()
    assert [version for version, _, _ in spans(engine)] == [2, 1]
    # Matched under version 2 by the batch, derived again under version 1 by the change.
    assert outcome_rows(engine) == [
        ("r1", 1, "2026-11-10T12:00", "2026-12-01T00:00", "counted"),
    ]
