"""The deliveries are sent by the `deliver_webhooks` job and by `metering webhooks deliver`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from metering.platform.outbox.service import enqueue
from metering.platform.settings import get_settings
from metering.surfaces.cli.main import app
from metering.surfaces.jobs import running_jobs
from tests.metering.conftest import LOCAL_RECEIVERS, VendorFixture, receiving_settings
from tests.metering.notify.webhooks.helpers import add_endpoint, deliveries
from tests.metering.notify.webhooks.receiver import Receiver, running
from tests.metering.surfaces.jobs.conftest import wait_for

runner = CliRunner()


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("METERING_DATABASE_URL", database_url)
    monkeypatch.setenv("METERING_WEBHOOK_ALLOWED_HOSTS", ",".join(LOCAL_RECEIVERS))
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def issue(engine: Engine, vendor: VendorFixture, count: int) -> None:
    with Session(engine) as session:
        for number in range(count):
            enqueue(session, vendor.id, "invoice.issued", {"number": number})
        session.commit()


def test_the_job_delivers_in_the_background(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    settings = receiving_settings(
        database_url=database_url,
        jobs_close_interval=timedelta(hours=1),
        jobs_sync_interval=timedelta(hours=1),
        jobs_alerts_interval=timedelta(hours=1),
        jobs_webhooks_interval=timedelta(seconds=1),
    )
    with running(Receiver()) as receiver:
        endpoint = add_endpoint(engine, vendor.id, receiver.url, ["invoice.issued"])
        receiver.secrets = [endpoint.secret]
        with running_jobs(settings):
            issue(engine, vendor, 3)
            wait_for(lambda: len(receiver.received) == 3, 20, "three deliveries")
    assert all(r.verified for r in receiver.received)
    assert {d.status for d in deliveries(engine)} == {"delivered"}


def test_the_command_sends_what_is_due(
    cli_database: str, engine: Engine, vendor: VendorFixture
) -> None:
    with running(Receiver(script=[500])) as receiver:
        endpoint = add_endpoint(engine, vendor.id, receiver.url, ["invoice.issued"])
        receiver.secrets = [endpoint.secret]
        issue(engine, vendor, 2)
        result = runner.invoke(app, ["webhooks", "deliver"])
    assert result.exit_code == 0, result.output
    assert "1 delivered, 1 failed and scheduled again, 0 given up" in result.output
    assert sorted(r.answered for r in receiver.received) == [200, 500]
