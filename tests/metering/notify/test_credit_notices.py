"""Credit notices through the outbox, each sent once per edge: `credits.granted` when a grant
becomes usable, `credits.low` below the vendor's threshold and again after the balance was
back above, `credits.depleted` at zero, `credits.expiring` N days before, `credits.expired`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.credits import service
from metering.billing.credits.expiry import expire_due
from metering.billing.credits.models import CreditGrant
from metering.billing.credits.schemas import AdjustmentCreate
from metering.notify.credit_notices.evaluation import evaluate
from metering.platform.db.types import utcnow
from tests.metering.billing.credits.helpers import grant
from tests.metering.billing.invoices.helpers import close
from tests.metering.conftest import VendorFixture, create_customer
from tests.metering.notify.webhooks.helpers import add_endpoint, deliveries, payload
from tests.metering.platform.api.support import bearer

TYPES = [
    "credits.granted",
    "credits.low",
    "credits.depleted",
    "credits.expiring",
    "credits.expired",
]


def _sent(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    return [(d.event_type, payload(d)["data"]) for d in deliveries(engine)]


def _adjust(engine: Engine, grant_id: str, amount: str, now: datetime) -> None:
    with Session(engine) as session:
        found = session.get(CreditGrant, grant_id)
        assert found is not None
        service.adjust(session, found, AdjustmentCreate(amount=amount, reason="test"), now)
        session.commit()


def test_low_and_depleted_are_sent_once_per_drop(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    add_endpoint(engine, vendor.id, "https://hooks.example.test/credits", TYPES)
    put = app_client.put(
        "/v1/vendor/credit_notices",
        json={"low_below": {"USD": "50"}, "expiring_days": 7},
        headers=bearer(vendor.api_key),
    )
    assert put.status_code == 200, put.text
    assert put.json()["low_below"] == {"usd": "50.00"}
    customer_id = create_customer(engine, vendor.id, "acme", plan_id)
    now = utcnow()
    grant_id = grant(engine, customer_id, "80.00", now, name="Pack")

    [(kind, data)] = _sent(engine)
    assert kind == "credits.granted"
    assert (data["grant"], data["customer"], data["amount"], data["currency"]) == (
        grant_id,
        "acme",
        "80.00",
        "usd",
    )
    assert evaluate(engine, now) == []  # 80.00: nothing to tell

    _adjust(engine, grant_id, "-40.00", now)  # 40.00 < 50.00
    assert evaluate(engine, now) == [(customer_id, "low", "usd")]
    assert evaluate(engine, now) == []  # the same drop is told once
    assert _sent(engine)[-1] == (
        "credits.low",
        {
            "customer_id": customer_id,
            "customer": "acme",
            "currency": "usd",
            "available": "40.00",
            "threshold": "50.00",
        },
    )

    _adjust(engine, grant_id, "-40.00", now)  # 0.00
    assert evaluate(engine, now) == [(customer_id, "depleted", "usd")]

    _adjust(engine, grant_id, "+60.00", now)  # back above: both re-armed
    assert evaluate(engine, now) == []
    _adjust(engine, grant_id, "-20.00", now)  # 40.00: a new drop
    assert evaluate(engine, now) == [(customer_id, "low", "usd")]
    assert [kind for kind, _ in _sent(engine)] == [
        "credits.granted",
        "credits.low",
        "credits.depleted",
        "credits.low",
    ]


def test_expiring_n_days_before_and_expired_once(
    engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    add_endpoint(engine, vendor.id, "https://hooks.example.test/credits", TYPES[3:])
    start = datetime(2026, 11, 1, tzinfo=UTC)
    customer_id = create_customer(engine, vendor.id, "acme", plan_id, starts_at=start)
    expires = datetime(2026, 11, 20, tzinfo=UTC)
    grant_id = grant(engine, customer_id, "25.00", start, name="Promo", expires_at=expires)

    assert evaluate(engine, expires - timedelta(days=8)) == []
    assert evaluate(engine, expires - timedelta(days=7)) == [(customer_id, "expiring", grant_id)]
    assert evaluate(engine, expires - timedelta(days=1)) == []
    [(kind, data)] = _sent(engine)
    assert (kind, data["remaining"], data["name"]) == ("credits.expiring", "25.00", "Promo")

    close(engine, datetime(2027, 1, 15, tzinfo=UTC))  # November is closed: nothing left to pay
    assert expire_due(engine, datetime(2027, 1, 15, tzinfo=UTC)) == 1
    assert evaluate(engine, datetime(2027, 1, 15, tzinfo=UTC)) == [
        (customer_id, "depleted", "usd"),  # sent to no endpoint: none subscribes to it
        (customer_id, "expired", grant_id),
    ]
    assert evaluate(engine, datetime(2027, 1, 16, tzinfo=UTC)) == []
    assert [kind for kind, _ in _sent(engine)] == ["credits.expiring", "credits.expired"]
