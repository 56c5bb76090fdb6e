"""What the metrics module promises its callers: invoices counted only once committed, a
metric that fails never fails the work, and a shared directory that leaves no trace."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from prometheus_client import values
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.platform.monitoring import metrics


@pytest.fixture(scope="module")
def backend() -> str:
    return "sqlite"


def issued(currency: str) -> tuple[float, float]:
    return (
        metrics.INVOICES_ISSUED.labels(currency)._value.get(),
        metrics.INVOICED_AMOUNT.labels(currency)._value.get(),
    )


def test_invoices_are_counted_when_their_transaction_commits_never_on_rollback(
    engine: Engine,
) -> None:
    before = issued("eur")
    with Session(engine) as session:
        session.connection()
        metrics.count_issued(session, [("eur", Decimal("12.34"))])
        assert issued("eur") == before  # not committed yet
        session.rollback()
        session.commit()
    assert issued("eur") == before

    with Session(engine) as session:
        session.connection()
        metrics.count_issued(session, [("eur", Decimal("12.34")), ("eur", Decimal("0.66"))])
        session.commit()
    count, amount = issued("eur")
    assert count - before[0] == 2
    assert amount - before[1] == pytest.approx(13.00)


def test_a_metric_that_fails_is_logged_and_the_work_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics.count_webhook_attempts(None)  # type: ignore[arg-type]  # a bug at a call site

    assert "could not update a metric" in caplog.text


def test_the_shared_directory_is_used_inside_the_block_and_gone_after_it() -> None:
    class_before = values.ValueClass
    assert metrics.MULTIPROCESS_DIR not in os.environ

    with metrics.shared_between_processes() as directory:
        assert os.environ[metrics.MULTIPROCESS_DIR] == str(directory)
        metrics.count_job_run("evaluate_alerts", succeeded=True)
        assert [path.name for path in directory.iterdir()] == [f"counter_{os.getpid()}.db"]

    assert not directory.exists()
    assert metrics.MULTIPROCESS_DIR not in os.environ
    assert values.ValueClass is class_before
    metrics.count_job_run("evaluate_alerts", succeeded=True)  # in memory again
    assert metrics.JOB_RUNS.labels("evaluate_alerts", "success")._value.get() == 1
