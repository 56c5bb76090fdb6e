"""Two workers at once (PostgreSQL): each delivery is sent once, each alert fires once."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.notify.alerts.evaluation import Fired, evaluate
from metering.notify.webhooks.delivery import DeliveryReport, deliver_due
from metering.platform.outbox.service import enqueue
from tests.metering.conftest import VendorFixture, create_customer, create_plan, receiving_settings
from tests.metering.notify.alerts.helpers import add_alert, at, resolutions, rules, send
from tests.metering.notify.webhooks.helpers import add_endpoint, deliveries
from tests.metering.notify.webhooks.receiver import Receiver, running

pytestmark = pytest.mark.postgres
EVENTS = 60
CUSTOMERS = 12


@pytest.fixture(scope="module")
def backend() -> str:
    return "postgresql"


def in_two_threads(work: Any) -> list[Any]:
    start = threading.Barrier(2)

    def run(worker: int) -> Any:
        start.wait()
        return work(worker)

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(run, range(2)))


def test_two_deliverers_send_each_delivery_once(engine: Engine, vendor: VendorFixture) -> None:
    with running(Receiver()) as receiver:
        endpoint = add_endpoint(engine, vendor.id, receiver.url, ["invoice.issued"])
        receiver.secrets = [endpoint.secret]
        with Session(engine) as session:
            for number in range(EVENTS):
                enqueue(session, vendor.id, "invoice.issued", {"number": number})
            session.commit()

        def work(worker: int) -> DeliveryReport:
            return deliver_due(
                engine, receiving_settings(), owner=f"w{worker}", limit=7, rng=random.Random(worker)
            )

        reports: list[DeliveryReport] = []
        while sum(report.delivered for report in reports) < EVENTS:
            batch = in_two_threads(work)
            assert any(report.results for report in batch)
            reports.extend(batch)

    numbers = sorted(r.body["data"]["number"] for r in receiver.received)
    assert numbers == list(range(EVENTS))
    assert all(r.verified for r in receiver.received)
    assert {d.status for d in deliveries(engine)} == {"delivered"}


def test_two_evaluators_fire_each_alert_once(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, rules())
    add_endpoint(engine, vendor.id, "https://a.test/hook", ["alert.triggered"])
    add_alert(engine, vendor.id, kind="spend", threshold="10.00", plan=plan)
    events = []
    for n in range(CUSTOMERS):
        create_customer(engine, vendor.id, f"c{n}", plan, at(1, 10, 0))
        events += resolutions(f"c{n}", 2, at(3), customer=f"c{n}")
    send(engine, vendor.id, events, at(3))

    fired: list[list[Fired]] = in_two_threads(lambda _: evaluate(engine, now=at(4)))

    assert sum(len(run) for run in fired) == CUSTOMERS
    assert len(deliveries(engine)) == CUSTOMERS
