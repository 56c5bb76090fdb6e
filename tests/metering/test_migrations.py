"""The migrations make exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from metering.platform.db import migrate
from metering.platform.db.engine import make_engine
from metering.surfaces.tables import metadata
from tests.metering.conftest import BACKENDS, empty_database

TABLES = {
    "alembic_version",
    "api_keys",
    "apscheduler_jobs",
    "customers",
    "event_voids",
    "events",
    "invoice_counters",
    "invoice_lines",
    "invoices",
    "outcome_reversals",
    "outcomes",
    "plan_versions",
    "plans",
    "signing_secrets",
    "stale_periods",
    "stripe_events",
    "subscriptions",
    "vendors",
    # issue 5: portal and disputes
    "portal_sessions",
    "portal_keys",
    "disputes",
    # issue 6: alerts and outbound webhooks
    "alert_rules",
    "alert_firings",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    # issue 13: what each job did last
    "job_runs",
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_matches_models_and_downgrade_removes_everything(
    backend: str, tmp_path: Path
) -> None:
    with empty_database(backend, tmp_path, "migrations") as url:
        engine = make_engine(url)
        try:
            assert not migrate.is_current(engine)
            migrate.upgrade(url)
            assert migrate.is_current(engine)
            assert set(sa.inspect(engine).get_table_names()) == TABLES
            with engine.connect() as connection:
                context = MigrationContext.configure(
                    connection, opts={"compare_type": True, "compare_server_default": True}
                )
                assert compare_metadata(context, metadata) == []

            migrate.downgrade(url, "base")
            assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}
            assert not migrate.is_current(engine)

            migrate.upgrade(url)
            assert migrate.is_current(engine)
        finally:
            engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_counted_outcomes_are_unique_per_key(backend: str, tmp_path: Path) -> None:
    """The partial unique index exists as migrated: only `counted` rows are constrained."""
    with empty_database(backend, tmp_path, "unique") as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            indexes = {i["name"]: i for i in sa.inspect(engine).get_indexes("outcomes")}
            assert indexes["uq_outcomes_counted_key"]["unique"]
            assert indexes["uq_outcomes_counted_key"]["column_names"] == [
                "customer_id",
                "outcome",
                "period_start",
                "dedupe_key",
            ]
        finally:
            engine.dispose()
