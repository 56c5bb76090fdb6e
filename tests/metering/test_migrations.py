"""The migrations make exactly the schema the models describe, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    # issue 11: payment providers' state in provider-neutral links
    "invoice_payment_links",
    "invoice_line_payment_links",
    "customer_payment_links",
    # issue 13: what each job did last
    "job_runs",
    # issue 12: payments received outside a payment provider
    "invoice_payments",
    # issue 16: per-customer price books
    "customer_overrides",
    # issue 14: prepaid credits and their ledger
    "credit_grants",
    "credit_entries",
    # issue 14: automatic top-ups, credit notices
    "credit_auto_top_ups",
    "credit_notice_settings",
    "credit_notices",
    # issue 15: running outcome tallies for the allowance check
    "outcome_tallies",
    # money-creating requests and their idempotency keys
    "idempotent_requests",
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


T0 = datetime(2026, 11, 4, tzinfo=UTC)
T1 = datetime(2026, 11, 4, 0, 5, tzinfo=UTC)


def _filler(column: sa.Column[Any]) -> Any:
    """A value for a required column the test does not care about."""
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return T0
    if isinstance(kind, sa.Integer | sa.Numeric):
        return 0
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.JSON):
        return {}
    if isinstance(kind, sa.ARRAY):
        return []
    return f"{column.name}-x"


def _insert(connection: sa.Connection, table: sa.Table, **given: Any) -> None:
    required = {
        column.name: _filler(column)
        for column in table.columns
        if not column.nullable and column.server_default is None and column.name not in given
    }
    connection.execute(table.insert().values(**required, **given))


# Invoices as 0005 kept them: paid in Stripe, stopped on a declined card mid-retry, untouched.
PAID = {
    "id": "inv_paid",
    "status": "paid",
    "sync_state": "paid",
    "sync_error": None,
    "sync_attempts": 0,
    "next_sync_at": None,
    "sync_lease_owner": None,
    "sync_lease_until": None,
    "stripe_invoice_id": "in_paid",
    "stripe_hosted_url": "https://invoice.stripe.test/i/paid",
    "updated_at": T1,
}
FAILED = {
    "id": "inv_failed",
    "status": "payment_failed",
    "sync_state": "failed",
    "sync_error": "Stripe CardError (HTTP 402) [card_declined]: Your card was declined.",
    "sync_attempts": 2,
    "next_sync_at": T1,
    "sync_lease_owner": "host:1:ab",
    "sync_lease_until": T1,
    "stripe_invoice_id": "in_failed",
    "stripe_hosted_url": None,
    "updated_at": T0,
}
UNTOUCHED = {
    "id": "inv_new",
    "status": "issued",
    "sync_state": "not_started",
    "sync_error": None,
    "sync_attempts": 0,
    "next_sync_at": T0,
    "sync_lease_owner": None,
    "sync_lease_until": None,
    "stripe_invoice_id": None,
    "stripe_hosted_url": None,
    "updated_at": T0,
}


def _seed_0005(engine: sa.Engine) -> None:
    tables = sa.MetaData()
    tables.reflect(engine)
    t = tables.tables
    with engine.begin() as connection:
        _insert(connection, t["vendors"], id="ven_1")
        _insert(connection, t["plans"], id="pln_1", vendor_id="ven_1")
        _insert(connection, t["plan_versions"], id="plv_1", plan_id="pln_1")
        for customer, stripe_id in (("cus_linked", "cus_S1"), ("cus_plain", None)):
            _insert(
                connection,
                t["customers"],
                id=customer,
                vendor_id="ven_1",
                external_id=customer,
                stripe_customer_id=stripe_id,
                updated_at=T1,
            )
            _insert(
                connection,
                t["subscriptions"],
                id=f"sub_{customer}",
                vendor_id="ven_1",
                customer_id=customer,
                plan_id="pln_1",
                plan_version_id="plv_1",
            )
        for number, invoice in enumerate((PAID, FAILED, UNTOUCHED), start=1):
            customer = "cus_plain" if invoice is UNTOUCHED else "cus_linked"
            _insert(
                connection,
                t["invoices"],
                **invoice,
                vendor_id="ven_1",
                customer_id=customer,
                subscription_id=f"sub_{customer}",
                plan_version_id="plv_1",
                number=number,
                currency="usd",
                period_start=T0.replace(month=number),
            )
        for position, item in enumerate(("ii_1", "ii_2", None), start=1):
            _insert(
                connection,
                t["invoice_lines"],
                id=f"il_{position}",
                invoice_id="inv_paid",
                customer_id="cus_linked",
                position=position,
                stripe_item_id=item,
            )


def _rows(engine: sa.Engine, query: str) -> set[tuple[Any, ...]]:
    with engine.connect() as connection:
        return {tuple(row) for row in connection.execute(sa.text(query))}


INVOICE_FACTS = (
    "SELECT id, sync_state, sync_error, sync_attempts, next_sync_at, sync_lease_owner, "
    "sync_lease_until, stripe_invoice_id, stripe_hosted_url FROM invoices"
)


def _facts(invoice: dict[str, Any]) -> tuple[Any, ...]:
    keys = INVOICE_FACTS.removeprefix("SELECT ").split(" FROM")[0].split(", ")
    return tuple(invoice[key] for key in keys)


def _moments(rows: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """SQLite's raw text timestamps read back as aware datetimes, to compare with ours."""

    def moment(value: Any) -> Any:
        if isinstance(value, str) and value[:4].isdigit() and "-" in value[:5]:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return value

    return {tuple(moment(value) for value in row) for row in rows}


@pytest.mark.parametrize("backend", BACKENDS)
def test_stripe_state_moves_into_the_payment_links_and_back(backend: str, tmp_path: Path) -> None:
    """0006 moves what the Stripe sync kept on invoices, lines and customers into the link
    tables, fact for fact; its downgrade puts it back."""
    with empty_database(backend, tmp_path, "links") as url:
        migrate.upgrade(url, "0005")
        engine = make_engine(url)
        try:
            _seed_0005(engine)

            migrate.upgrade(url, "0006")

            links = _moments(
                _rows(
                    engine,
                    "SELECT invoice_id, provider, step, error, attempts, next_attempt_at, "
                    "lease_owner, lease_until, external_id, hosted_url, updated_at "
                    "FROM invoice_payment_links",
                )
            )
            assert links == {
                (
                    i["id"],
                    None if i is UNTOUCHED else "stripe",
                    *_facts(i)[1:],
                    i["updated_at"],
                )
                for i in (PAID, FAILED, UNTOUCHED)
            }
            assert _rows(
                engine, "SELECT line_id, provider, external_id FROM invoice_line_payment_links"
            ) == {("il_1", "stripe", "ii_1"), ("il_2", "stripe", "ii_2")}
            assert _rows(
                engine, "SELECT customer_id, provider, external_id FROM customer_payment_links"
            ) == {("cus_linked", "stripe", "cus_S1")}
            columns = {
                table: {c["name"] for c in sa.inspect(engine).get_columns(table)}
                for table in ("invoices", "invoice_lines", "customers")
            }
            assert not columns["invoices"] & {"sync_state", "stripe_invoice_id", "next_sync_at"}
            assert "stripe_item_id" not in columns["invoice_lines"]
            assert "stripe_customer_id" not in columns["customers"]

            migrate.downgrade(url, "0005")

            engine.dispose()
            assert _moments(_rows(engine, INVOICE_FACTS)) == {
                _facts(i) for i in (PAID, FAILED, UNTOUCHED)
            }
            assert _rows(engine, "SELECT id, stripe_item_id FROM invoice_lines") == {
                ("il_1", "ii_1"),
                ("il_2", "ii_2"),
                ("il_3", None),
            }
            assert _rows(engine, "SELECT id, stripe_customer_id FROM customers") == {
                ("cus_linked", "cus_S1"),
                ("cus_plain", None),
            }
        finally:
            engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_invoices_waiting_for_a_provider_and_customers_are_stripes(
    backend: str, tmp_path: Path
) -> None:
    """0008: an issued invoice no provider had taken yet goes to Stripe, the only provider
    before it, as do existing customers; the dunning state starts empty."""
    with empty_database(backend, tmp_path, "collection") as url:
        migrate.upgrade(url, "0005")
        engine = make_engine(url)
        try:
            _seed_0005(engine)
            migrate.upgrade(url, "0007")
            assert _rows(engine, "SELECT invoice_id, provider FROM invoice_payment_links") == {
                ("inv_paid", "stripe"),
                ("inv_failed", "stripe"),
                ("inv_new", None),
            }

            migrate.upgrade(url)

            assert _rows(
                engine,
                "SELECT invoice_id, provider, key_round, failed_payments, decline_code, "
                "first_failed_at, uncollectible_at FROM invoice_payment_links",
            ) == {
                (invoice, "stripe", 0, 0, None, None, None)
                for invoice in ("inv_paid", "inv_failed", "inv_new")
            }
            assert _rows(engine, "SELECT id, payment_provider FROM customers") == {
                ("cus_linked", "stripe"),
                ("cus_plain", "stripe"),
            }
            assert _rows(engine, "SELECT id, payment_retry_days FROM vendors") == {("ven_1", None)}
        finally:
            engine.dispose()
