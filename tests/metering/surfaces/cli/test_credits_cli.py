"""`metering credits grant|list|ledger|balance` against the configured database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from metering.billing.invoices.models import Invoice
from metering.catalog.customers.models import Customer
from metering.platform.settings import get_settings
from metering.surfaces.cli.main import app
from tests.metering.conftest import VendorFixture, create_customer

runner = CliRunner()


@pytest.fixture
def cli_database(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("METERING_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_grant_list_ledger_and_balance(
    cli_database: str, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)

    made = runner.invoke(
        app,
        [
            "credits",
            "grant",
            "acme",
            "120.50",
            "--name",
            "Welcome",
            "--expires-at",
            "2030-01-01T00:00:00Z",
        ],
    )
    assert made.exit_code == 0, made.output
    assert "120.50 usd (promotional), active" in made.output

    listed = runner.invoke(app, ["credits", "list", "acme"])
    assert listed.exit_code == 0, listed.output
    assert "Welcome" in listed.output and "120.50 usd" in listed.output
    assert "2030-01-01 00:00:00" in listed.output

    ledger = runner.invoke(app, ["credits", "ledger", "acme"])
    assert ledger.exit_code == 0, ledger.output
    assert "grant" in ledger.output and "120.50 usd" in ledger.output

    balance = runner.invoke(app, ["credits", "balance", "acme"])
    assert balance.exit_code == 0, balance.output
    assert "usd" in balance.output and "120.50" in balance.output


def test_a_purchase_issues_its_invoice_and_bad_input_fails(
    cli_database: str, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer_id = create_customer(engine, vendor.id, "acme", plan_id)
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.payment_provider = "manual"
        session.add(customer)
        session.commit()

    bought = runner.invoke(app, ["credits", "grant", "acme", "50.00", "--price", "45.00"])

    assert bought.exit_code == 0, bought.output
    assert "50.00 usd (paid), pending_payment" in bought.output
    with Session(engine) as session:
        [invoice] = session.exec(select(Invoice)).all()
    assert f"purchase invoice {invoice.id}" in bought.output
    assert invoice.total == 45

    bad = runner.invoke(app, ["credits", "grant", "acme", "0"])
    assert bad.exit_code == 1
    assert "amount" in bad.output
    unknown = runner.invoke(app, ["credits", "list", "nobody"])
    assert unknown.exit_code == 1 and "no customer 'nobody'" in unknown.output
