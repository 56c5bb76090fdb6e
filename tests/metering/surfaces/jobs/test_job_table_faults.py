"""A database error in the scheduler's own update of its job table stops no job.

APScheduler's thread used to die on it ("Exception in thread APScheduler"): the process
then ran no close and sent no webhook again while its API kept answering. Each test breaks
that update while the jobs run, mends it, and checks that the next close issues invoices and
the next delivery reaches a real receiver.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.platform.db.engine import make_engine
from metering.platform.db.types import utcnow
from metering.platform.jobs.models import JobRun
from metering.surfaces.jobs import CLOSE_JOB_ID, WEBHOOKS_JOB_ID, running_jobs
from tests.metering.conftest import create_vendor, migrated_database
from tests.metering.notify.webhooks.helpers import add_endpoint
from tests.metering.notify.webhooks.receiver import Receiver, running
from tests.metering.surfaces.jobs.billing import invoice_count, seed_billing
from tests.metering.surfaces.jobs.conftest import every_second, wait_for

SAVE_FAILED = "could not save the next run of job"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def succeeded_since(engine: Engine, job_id: str, moment: datetime = EPOCH) -> bool:
    with Session(engine) as session:
        run = session.get(JobRun, job_id)
        return run is not None and (run.last_succeeded_at or moment) > moment


def scheduler_alive() -> bool:
    return any(thread.name == "APScheduler" for thread in threading.enumerate())


def failed_update_seen(caplog: pytest.LogCaptureFixture) -> bool:
    """The store logged a failed update, or (before the fix) the scheduler's thread died."""
    return SAVE_FAILED in caplog.text or not scheduler_alive()


def the_next_close_and_delivery_happen(engine: Engine, receiver: Receiver) -> None:
    """Invoices for newly seeded due periods, each announced to the receiver.

    The jobs run while the billing is seeded, so a close may come between a customer and its
    events: only the invoices and deliveries are counted, not their amounts.
    """
    mended = utcnow()
    vendor = create_vendor(engine, "After the fault")
    endpoint = add_endpoint(engine, vendor.id, receiver.url, ["invoice.issued"])
    receiver.secrets = [endpoint.secret]
    billing = seed_billing(engine, customers=1, conversations=1, vendor_id=vendor.id)
    due = len(billing.due_periods(utcnow()))
    wait_for(lambda: invoice_count(engine) >= due, 30, f"{due} invoices from the next close")
    wait_for(lambda: len(receiver.received) >= due, 30, f"{due} invoice.issued deliveries")
    assert all(received.verified for received in receiver.received)
    assert {received.body["type"] for received in receiver.received} == {"invoice.issued"}
    # The run that sent a delivery records its success once it has written the answer: the
    # receiver can see the request first.
    wait_for(lambda: succeeded_since(engine, CLOSE_JOB_ID, mended), 30, "a recorded close")
    wait_for(lambda: succeeded_since(engine, WEBHOOKS_JOB_ID, mended), 30, "a recorded delivery")
    assert scheduler_alive()


@contextmanager
def failing_job_table_updates(engine: Engine) -> Iterator[None]:
    """Every UPDATE of `apscheduler_jobs` fails (a trigger raises) until the block ends."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text(
                    "CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN RAISE EXCEPTION 'job table unavailable'; END $$"
                )
            )
            connection.execute(
                sa.text(
                    "CREATE TRIGGER refuse_update BEFORE UPDATE ON apscheduler_jobs"
                    " FOR EACH ROW EXECUTE FUNCTION refuse_update()"
                )
            )
        else:
            connection.execute(
                sa.text(
                    "CREATE TRIGGER refuse_update BEFORE UPDATE ON apscheduler_jobs"
                    " BEGIN SELECT RAISE(ABORT, 'job table unavailable'); END"
                )
            )
    try:
        yield
    finally:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("DROP TRIGGER refuse_update ON apscheduler_jobs"))
                connection.execute(sa.text("DROP FUNCTION refuse_update()"))
            else:
                connection.execute(sa.text("DROP TRIGGER refuse_update"))


def test_a_failing_update_of_the_job_table_stops_no_job(
    engine: Engine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="metering.platform.jobs.store")
    with running(Receiver()) as receiver, running_jobs(every_second(database_url)):
        wait_for(lambda: succeeded_since(engine, CLOSE_JOB_ID), 30, "a first close")
        with failing_job_table_updates(engine):
            wait_for(lambda: failed_update_seen(caplog), 30, "an update of the job table to fail")
        the_next_close_and_delivery_happen(engine, receiver)
    assert SAVE_FAILED in caplog.text
    assert "job table unavailable" in caplog.text


def backends_waiting_to_update_the_job_table(engine: Engine) -> list[int]:
    """Sessions whose UPDATE of `apscheduler_jobs` waits for a lock (a fresh connection each
    time: `pg_stat_activity` is a snapshot for the length of a transaction)."""
    query = sa.text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND query LIKE 'UPDATE apscheduler_jobs%'"
    )
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


@pytest.mark.postgres
def test_connections_terminated_during_the_job_table_update_stop_no_job(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Lock the job rows, wait until the scheduler's update blocks on them, terminate every
    other connection to the database (the blocked one and the jobs' pool), release the lock."""
    caplog.set_level(logging.WARNING, logger="metering.platform.jobs.store")
    with migrated_database("postgresql", tmp_path, "terminated") as url:
        engine = make_engine(url)
        try:
            with running(Receiver()) as receiver, running_jobs(every_second(url)):
                wait_for(lambda: succeeded_since(engine, CLOSE_JOB_ID), 30, "a first close")
                with engine.connect() as blocker:
                    blocker.execute(sa.text("SELECT id FROM apscheduler_jobs FOR UPDATE"))
                    wait_for(
                        lambda: bool(backends_waiting_to_update_the_job_table(engine)),
                        30,
                        "the scheduler's update to wait for the locked rows",
                    )
                    blocker.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        )
                    )
                    blocker.rollback()
                wait_for(lambda: failed_update_seen(caplog), 30, "the terminated update")
                the_next_close_and_delivery_happen(engine, receiver)
        finally:
            engine.dispose()
    assert SAVE_FAILED in caplog.text
    assert "terminating connection due to administrator command" in caplog.text
